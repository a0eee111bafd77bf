"""CTC decoders: log-probs (T, N, C) and output lengths -> label sequences (recog/decoding/greedy.py, best path;
prefix_search.py, the beam search; scorers.py, what it adds: language models, lexicon, hotwords)."""
from recog.decoding.greedy import GreedyDecoder, best_path, collapse
from recog.decoding.prefix_search import DecodingError, Hypothesis, beam_search, prefix_beam_search

__all__ = ["GreedyDecoder", "best_path", "collapse", "DecodingError", "Hypothesis", "beam_search",
           "prefix_beam_search"]

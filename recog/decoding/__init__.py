"""CTC decoders: log-probs (T, N, C) and output lengths -> label sequences.

inputs.py (what every decoder reads, checked), greedy.py (best path), prefix_search.py (the beam search),
scorers.py (what a beam earns per symbol: the interface of language_models.py, lexicon.py), ngram.py (ARPA /
KenLM models), kneser_ney.py (building them), decoders.py (the decoders of conf/decoder/).
"""
from recog.decoding.decoders import BeamSearchDecoder, GreedyDecoder, build_decoder
from recog.decoding.greedy import best_path, collapse
from recog.decoding.inputs import DecodingError
from recog.decoding.prefix_search import Hypothesis, beam_search, beam_search_batch, prefix_beam_search

__all__ = ["BeamSearchDecoder", "build_decoder", "GreedyDecoder", "best_path", "collapse", "DecodingError",
           "Hypothesis", "beam_search", "beam_search_batch", "prefix_beam_search"]

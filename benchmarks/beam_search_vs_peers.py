"""Our CTC prefix beam search against the decoders a user would otherwise pick, on the same inputs, in one run.

    pip install -e ".[bench]"      # pyctcdecode, flashlight-text, fast-ctc-decode, kenlm (built from source)
    python benchmarks/beam_search_vs_peers.py speed                       # beams 1/8/32/128, T 100/500/2000, V 30/80
    python benchmarks/beam_search_vs_peers.py speed --frames 500 --classes 80 --beams 32 128
    python benchmarks/beam_search_vs_peers.py lm --arpa words3.arpa ckpt_path=<best.ckpt> data=demo_speech split=val

speed: model-like posteriors (runs of confident frames, blanks between labels, some uncertain frames), no pruning
in any decoder (every class considered at every frame, no score threshold), one thread. Per setting: time per
utterance, how often each decoder's best string equals ours, and the mean log-probability of each decoder's best
string under the posteriors (the sum over all its CTC paths, computed exactly with torch's CTC in float64; the
exact search finds the labelling that maximises it, so higher is better).

lm: the posteriors of a trained checkpoint on a data split (the rest of the arguments are recog-eval's Hydra
overrides), decoded with a word n-gram (ARPA) by our beam search, pyctcdecode + KenLM and flashlight-text +
KenLM at one (alpha, beta) and each beam: WER, CER and time per utterance. A missing peer is reported, not fatal.
Every LM decoder starts with its own model loaded and nothing cached.

The peers decode one utterance per call; ours is timed that way too, and on batches ("batch N": the per-frame
work of N utterances done together, as recog-eval and recog-transcribe decode), the time divided by the
number of utterances either way.
"""
from __future__ import annotations

import argparse
import functools
import gc
import itertools
import math
import string
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from recog.alphabet import Alphabet
from recog.decoding import beam_search_batch, collapse
from recog.decoding.language_models import word_ngram
from recog.decoding.lexicon import LexiconScorer
from recog.decoding.ngram import SPECIAL_TOKENS, read_arpa
from recog.metrics import corpus_error_counts

Decoder = Callable[[np.ndarray], str]  # (T, V) natural-log posteriors -> best string
BatchDecoder = Callable[[list[np.ndarray]], list[str]]  # many utterances -> their best strings


# inputs ----------------------------------------------------------------------------------------------------------

def vocabulary(num_classes: int) -> list[str]:
    """The text of each class: the blank (""), space, then letters, digits and punctuation."""
    symbols = list(" " + string.ascii_lowercase + "'" + string.ascii_uppercase + string.digits
                   + ".,;:!?-()\"&/*+<>=%#[]")
    if num_classes - 1 > len(symbols):
        raise SystemExit(f"at most {len(symbols) + 1} classes")
    return [""] + symbols[: num_classes - 1]


def model_like_posteriors(num_frames: int, num_classes: int, seed: int) -> np.ndarray:
    """(T, V) log-posteriors shaped like a CTC model's: each frame has a winning class (half of them the blank,
    labels in runs of 1-3 frames), won by a random margin, so that some frames are certain and some are not."""
    rng = np.random.default_rng(seed)
    winners = []
    while len(winners) < num_frames:
        label = 0 if rng.random() < 0.5 else int(rng.integers(1, num_classes))
        winners += [label] * int(rng.integers(1, 4))
    logits = rng.normal(0.0, 1.5, (num_frames, num_classes))
    logits[np.arange(num_frames), winners[:num_frames]] += rng.uniform(1.0, 10.0, num_frames)
    return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


def labelling_log_prob(log_probs: np.ndarray, text: str, vocab: list[str]) -> float:
    """log p(text | posteriors): the sum over all its CTC paths, exactly (float64)."""
    index = {symbol: label for label, symbol in enumerate(vocab) if label}
    targets = torch.tensor([[index[c] for c in text]], dtype=torch.long)
    loss = torch.nn.functional.ctc_loss(torch.from_numpy(log_probs)[:, None], targets, [len(log_probs)],
                                        [len(text)], reduction="sum", zero_infinity=False)
    return -float(loss)


# the decoders: each is built once per (vocabulary, beam) and called per utterance ----------------------------------

def ours(vocab: list[str], beam: int, scorers=(), batch_size: int = 1) -> BatchDecoder:
    """Our beam search on batches of `batch_size` utterances (1: one call per utterance, as the peers)."""
    def decode_batch(utterances: list[np.ndarray]) -> list[str]:
        lengths = [len(log_probs) for log_probs in utterances]
        padded = np.zeros((max(lengths), len(utterances), len(vocab)))  # (T, N, V)
        for n, log_probs in enumerate(utterances):
            padded[: len(log_probs), n] = log_probs
        results = beam_search_batch(padded, lengths, beam_width=beam, scorers=list(scorers), num_best=1)
        return ["".join(vocab[label] for label in best.labels) for (best,) in results]

    def decode(utterances: list[np.ndarray]) -> list[str]:
        return [text for start in range(0, len(utterances), batch_size)
                for text in decode_batch(utterances[start:start + batch_size])]
    return decode


def one_by_one(decode: Decoder) -> BatchDecoder:
    return lambda utterances: [decode(log_probs) for log_probs in utterances]


def pyctcdecode(vocab: list[str], beam: int, arpa: str | None = None, alpha: float = 0.5,
                beta: float = 1.0) -> Decoder:
    from pyctcdecode import build_ctcdecoder
    decoder = build_ctcdecoder(vocab, kenlm_model_path=arpa, alpha=alpha, beta=beta)
    return lambda log_probs: decoder.decode(log_probs.astype(np.float32), beam_width=beam,
                                            beam_prune_logp=-1e9, token_min_logp=-1e9)


def flashlight(vocab: list[str], beam: int, arpa: str | None = None, alpha: float = 0.5,
               beta: float = 1.0) -> Decoder:
    """LexiconFreeDecoder without an LM; with a word LM, LexiconDecoder over the LM's words, since flashlight's
    lexicon-free decoder scores every token with the LM, which only fits a token-level LM."""
    from flashlight.lib.text import decoder as fl

    common = {"beam_size": beam, "beam_size_token": len(vocab), "beam_threshold": 1e9, "log_add": True,
              "criterion_type": fl.CriterionType.CTC}
    space = vocab.index(" ")
    if arpa is None:
        decoder = fl.LexiconFreeDecoder(fl.LexiconFreeDecoderOptions(lm_weight=0.0, sil_score=0.0, **common),
                                        fl.ZeroLM(), space, 0, [])
        to_text = None
    else:
        decoder, to_text = flashlight_lexicon_decoder(vocab, arpa, common, alpha, beta)

    def decode(log_probs: np.ndarray) -> str:
        emissions = np.ascontiguousarray(log_probs, dtype=np.float32)
        result = decoder.decode(emissions.ctypes.data, *emissions.shape)[0]
        if to_text is not None:
            return to_text(result.words)
        labels = [label for label, _ in itertools.groupby(result.tokens) if label > 0]
        return "".join(vocab[label] for label in labels).strip()
    return decode


def flashlight_lexicon_decoder(vocab: list[str], arpa: str, common: dict, alpha: float, beta: float):
    """A trie of the LM words' spellings, the space as flashlight's silence token between words. (torchaudio's
    ctc_decoder examples end each spelling with the word separator, for models that end every utterance with
    one; ours do not, and with that lexicon flashlight loses the last word: WER 16.6 % instead of 12.5 % on the
    demo model at beam 32.)"""
    from flashlight.lib.text import decoder as fl
    from flashlight.lib.text.dictionary import create_word_dict

    classes = {symbol: label for label, symbol in enumerate(vocab) if label}
    words = sorted(w for w in read_arpa(arpa).vocabulary - SPECIAL_TOKENS if set(w) <= set(classes))
    word_dict = create_word_dict({word: [[*word]] for word in [*words, "<unk>"]})
    lm = fl.KenLM(arpa, word_dict)
    trie = fl.Trie(len(vocab), classes[" "])
    start = lm.start(False)
    for word in words:
        index = word_dict.get_index(word)
        trie.insert([classes[c] for c in word], index, lm.score(start, index)[1])
    trie.smear(fl.SmearingMode.MAX)
    options = fl.LexiconDecoderOptions(lm_weight=alpha * math.log(10), word_score=beta, unk_score=-math.inf,
                                       sil_score=0.0, **common)  # KenLM scores are log10
    decoder = fl.LexiconDecoder(options, trie, lm, classes[" "], 0, word_dict.get_index("<unk>"), [], False)
    return decoder, lambda word_ids: " ".join(word_dict.get_entry(w) for w in word_ids if w >= 0)


def fast_ctc_decode(vocab: list[str], beam: int) -> Decoder:
    from fast_ctc_decode import beam_search as rust_beam_search
    alphabet = ["\u2400"] + vocab[1:]  # its alphabet's first entry stands for the blank

    def decode(log_probs: np.ndarray) -> str:
        text, _ = rust_beam_search(np.exp(log_probs).astype(np.float32), alphabet, beam_size=beam,
                                   beam_cut_threshold=0.0)
        return text
    return decode


PEERS = {"pyctcdecode": pyctcdecode, "flashlight-text": flashlight, "fast-ctc-decode": fast_ctc_decode}


def build_peer(name: str, vocab: list[str], beam: int, **lm) -> BatchDecoder | str:
    """The peer's decoder (one call per utterance), or the reason it is missing."""
    try:
        return one_by_one(PEERS[name](vocab, beam, **lm))
    except ImportError as error:
        return f"not installed ({error.name}): pip install -e '.[bench]'"


# speed ----------------------------------------------------------------------------------------------------------

@dataclass
class Row:
    frames: int
    classes: int
    beam: int
    decoder: str
    ms_per_utterance: float
    agreement: float
    mean_log_prob: float


def time_decoder(decode: BatchDecoder, inputs: list[np.ndarray]) -> tuple[list[str], float]:
    decode(inputs[:1])  # warm-up
    started = time.perf_counter()
    texts = decode(inputs)
    return texts, (time.perf_counter() - started) * 1000 / len(inputs)


def speed(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    print(f"{'T':>5} {'V':>3} {'beam':>4}  {'decoder':<16}{'ms/utt':>9}{'= ours':>8}{'mean log p(best)':>18}")
    for frames, classes, beam in itertools.product(args.frames, args.classes, args.beams):
        vocab = vocabulary(classes)
        count = max(2, args.utterances * 500 // max(frames, 500))
        inputs = [model_like_posteriors(frames, classes, seed) for seed in range(count)]
        our_texts, our_ms = time_decoder(ours(vocab, beam), inputs)
        decoders = {"recog": (our_texts, our_ms),
                    f"recog batch {len(inputs)}": time_decoder(ours(vocab, beam, batch_size=len(inputs)), inputs)}
        for name in PEERS:
            decoder = build_peer(name, vocab, beam)
            decoders[name] = decoder if isinstance(decoder, str) else time_decoder(decoder, inputs)
        for name, result in decoders.items():
            if isinstance(result, str):
                print(f"{frames:5d} {classes:3d} {beam:4d}  {name:<16}{result}")
                continue
            texts, ms = result
            agreement = np.mean([a == b for a, b in zip(texts, our_texts)])
            log_prob = np.mean([labelling_log_prob(x, text, vocab) for x, text in zip(inputs, texts)])
            print(f"{frames:5d} {classes:3d} {beam:4d}  {name:<16}{ms:9.1f}{agreement:8.0%}{log_prob:18.3f}",
                  flush=True)


# lm -------------------------------------------------------------------------------------------------------------

def model_posteriors(overrides: list[str]) -> tuple[list[np.ndarray], list[str], Alphabet]:
    """Log-posteriors and references of a split, through recog-eval's config (ckpt_path=, data=, split=)."""
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    from recog.config import CONFIG_DIR
    from recog.recognizer import Recognizer

    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("eval", overrides=overrides)
    recognizer = Recognizer.from_checkpoint(cfg.ckpt_path, "cpu")
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup_evaluation(recognizer.preprocessor, recognizer.normalizer, cfg.split)
    posteriors, references = [], []
    for batch in datamodule.dataloader(cfg.split):
        recognition = recognizer.run(batch["images"], batch["widths"])
        posteriors += [recognition.sample_log_probs(i).double().numpy() for i in range(len(batch["ids"]))]
        references += batch["texts"]
    return posteriors, references, recognizer.alphabet


def lexicon_of(arpa: str, alphabet: Alphabet) -> LexiconScorer:
    """Only the LM's words may be decoded: what flashlight's lexicon decoder does."""
    words = sorted(w for w in read_arpa(arpa).vocabulary - SPECIAL_TOKENS if set(w) <= set(alphabet.symbols))
    return LexiconScorer(words, alphabet)


def with_lm(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    posteriors, references, alphabet = model_posteriors(args.overrides)
    vocab = ["", *alphabet.symbols]
    print(f"{len(posteriors)} utterances, word LM {args.arpa}, alpha {args.alpha}, beta {args.beta}")
    print(f"{'decoder':<44}{'WER':>8}{'CER':>8}{'ms/utt':>9}")
    greedy = one_by_one(lambda log_probs: "".join(vocab[c] for c in collapse(log_probs.argmax(axis=1).tolist())))
    report("recog greedy", lambda: greedy, posteriors, references)
    for beam in args.beams:
        for name, build in lm_decoders(args, vocab, alphabet, beam).items():
            report(name, build, posteriors, references)


def lm_decoders(args: argparse.Namespace, vocab: list[str], alphabet: Alphabet,
                beam: int) -> dict[str, Callable[[], BatchDecoder | str]]:
    """name -> how to build it: each decoder is built just before it is timed, with its own LM and nothing
    cached, and none of the others alive (their LM states would slow Python's garbage collector down)."""
    def with_scorers(lexicon: bool, batch_size: int = 1) -> Callable[[], BatchDecoder]:
        return lambda: ours(vocab, beam, [word_ngram(args.arpa, alphabet, args.alpha, args.beta)]
                            + ([lexicon_of(args.arpa, alphabet)] if lexicon else []), batch_size)
    decoders = {f"recog beam {beam}": lambda: ours(vocab, beam)}
    for lexicon in (False, True):
        name = f"recog beam {beam} + LM" + (" + lexicon" if lexicon else "")
        decoders[name] = with_scorers(lexicon)
        decoders[f"{name}, batch {args.batch}"] = with_scorers(lexicon, args.batch)
    lm = {"arpa": args.arpa, "alpha": args.alpha, "beta": args.beta}
    for peer in PEERS:
        if peer != "fast-ctc-decode":  # it has no LM
            decoders[f"{peer} beam {beam} + KenLM"] = functools.partial(build_peer, peer, vocab, beam, **lm)
    return decoders


def report(name: str, build: Callable[[], BatchDecoder | str], posteriors: list[np.ndarray],
           references: list[str]) -> None:
    decoder = build()
    if isinstance(decoder, str):
        print(f"{name:<44}{decoder}")
        return
    gc.collect()
    texts, ms = time_decoder(decoder, posteriors)
    counts = corpus_error_counts(references, [" ".join(text.split()) for text in texts])
    print(f"{name:<44}{counts.wer:8.2%}{counts.cer:8.2%}{ms:9.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    speed_mode = modes.add_parser("speed", help="time and agreement on generated posteriors")
    speed_mode.add_argument("--frames", type=int, nargs="+", default=[100, 500, 2000])
    speed_mode.add_argument("--classes", type=int, nargs="+", default=[30, 80])
    speed_mode.add_argument("--beams", type=int, nargs="+", default=[1, 8, 32, 128])
    speed_mode.add_argument("--utterances", type=int, default=10, help="per setting at T <= 500 (fewer beyond)")
    lm_mode = modes.add_parser("lm", help="WER with a word n-gram on a checkpoint's posteriors")
    lm_mode.add_argument("--arpa", required=True, help="word n-gram ARPA file (recog-lm or KenLM's lmplz)")
    lm_mode.add_argument("--alpha", type=float, default=0.5)
    lm_mode.add_argument("--beta", type=float, default=1.0)
    lm_mode.add_argument("--beams", type=int, nargs="+", default=[8, 32])
    lm_mode.add_argument("--batch", type=int, default=32, help="utterances per call of our batched search")
    lm_mode.add_argument("overrides", nargs="+", help="recog-eval settings: ckpt_path=... data=... split=...")
    args = parser.parse_args()
    speed(args) if args.mode == "speed" else with_lm(args)


if __name__ == "__main__":
    main()

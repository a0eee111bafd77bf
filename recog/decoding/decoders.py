"""The decoders of conf/decoder/, built for a model's alphabet: (T, N, C) log-probs and lengths -> label sequences."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.errors import HydraException, InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from recog.alphabet import BLANK_INDEX, Alphabet
from recog.config import CONFIG_DIR
from recog.decoding.greedy import best_path
from recog.decoding.inputs import DecodingError, check_num_classes, checked_batch
from recog.decoding.lexicon import HotwordScorer, LexiconScorer, read_word_list
from recog.decoding.ngram import LanguageModelError
from recog.decoding.prefix_search import Hypothesis, beam_search_batch
from recog.decoding.scorers import Scorer
from recog.errors import ConfigError, RecogError


def build_decoder(config, alphabet: Alphabet):
    """A decoder config (a conf/decoder/ entry, with `_target_`) -> the decoder for this alphabet; a setting
    left unset or unknown, or an LM / lexicon that cannot be used, is a RecogError that says so."""
    missing = OmegaConf.missing_keys(config) if isinstance(config, DictConfig) else set()
    if missing:
        key = sorted(missing)[0].removeprefix("decoder.")  # the key as given on the command line
        raise ConfigError(f"decoder.{key} is not set: give it, e.g. decoder.{key}=FILE")
    try:
        return instantiate(config, alphabet=alphabet, _convert_="all")
    except InstantiationException as error:
        if isinstance(error.__cause__, RecogError):
            raise error.__cause__ from None
        if isinstance(error.__cause__, TypeError):
            raise ConfigError(f"decoder: {error.__cause__} (the settings a decoder takes are the keys of its "
                              "conf/decoder/ file)") from None
        raise


def decoder_config(name: str, settings: Sequence[str] = ()) -> DictConfig:
    """conf/decoder/NAME.yaml with KEY=VALUE settings (the keys recog-eval takes after `decoder.`), for the
    scripts that are not Hydra apps (recog-transcribe)."""
    available = sorted(path.stem for path in (Path(CONFIG_DIR) / "decoder").glob("*.yaml"))
    if name not in available:
        raise ConfigError(f"decoder {name!r} does not exist: choose one of {', '.join(available)} (conf/decoder/)")
    try:
        with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
            config = compose(f"decoder/{name}", overrides=[f"decoder.{setting}" for setting in settings]).decoder
    except HydraException as error:
        with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
            keys = [key for key in compose(f"decoder/{name}").decoder if not key.startswith("_")]
        hint = f": {', '.join(keys)}" if keys else (" (it has none; greedy is what runs without --decoder: choose "
                                                    "one, e.g. --decoder beam, or beam_word_lm for an LM)")
        reason = str(error).splitlines()[0].rstrip(".")
        raise ConfigError(f"decoder {name}: {reason}; settings are KEY=VALUE with the keys of "
                          f"conf/decoder/{name}.yaml{hint}") from None
    missing = sorted(key.removeprefix("decoder.") for key in OmegaConf.missing_keys(config))
    if missing:
        raise ConfigError(f"decoder {name} needs {', '.join(missing)}: set it, e.g. {missing[0]}=FILE")
    return config


class GreedyDecoder:
    """Best-path decoding (recog/decoding/greedy.py) behind the interface of every decoder in conf/decoder/."""

    def __init__(self, alphabet: Alphabet | None = None, blank: int = BLANK_INDEX):
        """alphabet: when given, log_probs must have its number of classes (best path itself does not need it)."""
        self.num_classes = alphabet.num_classes if alphabet is not None else None
        self.blank = blank

    def __call__(self, log_probs: torch.Tensor | np.ndarray, lengths) -> list[list[int]]:
        """log_probs (T, N, C), lengths (N,) -> the label sequence of each sample, read from its first
        lengths[n] frames only."""
        log_probs, lengths = checked_batch(log_probs, lengths, self.blank, self.num_classes)
        return best_path(log_probs, lengths, self.blank)


class BeamSearchDecoder:
    """Prefix beam search (recog/decoding/prefix_search.py) with optional shallow fusion, lexicon and hotwords.

    language_model: a callable (alphabet, alpha, beta) -> Scorer, e.g. recog.decoding.language_models.word_ngram
    with its path bound (`_partial_: true` in the config); alpha weighs log p_lm, beta is the bonus per word
    (word LM) or character (character LM). lexicon: a file of allowed words, one per line. hotwords: words or
    phrases that earn hotword_weight per character.
    """

    def __init__(self, alphabet: Alphabet, beam_width: int = 32, top_k: int | None = None,
                 min_log_prob: float | None = None, language_model: Callable[..., Scorer] | None = None,
                 alpha: float = 0.5, beta: float = 1.0, lexicon: str | None = None,
                 hotwords: Sequence[str] = (), hotword_weight: float = 2.0, blank: int = BLANK_INDEX):
        for name, weight in (("alpha", alpha), ("beta", beta), ("hotword_weight", hotword_weight)):
            if not math.isfinite(weight):
                raise DecodingError(f"decoder.{name} must be a finite number, not {weight}")
        self.num_classes = alphabet.num_classes
        self.search_settings = {"beam_width": beam_width, "top_k": top_k, "min_log_prob": min_log_prob,
                                "blank": blank}
        self.scorers: list[Scorer] = []
        if language_model is not None:
            self.scorers.append(language_model(alphabet=alphabet, alpha=alpha, beta=beta))
        if lexicon is not None:
            self.scorers.append(LexiconScorer(read_word_list(lexicon, alphabet, "lexicon word"), alphabet))
        if hotwords:
            self.scorers.append(HotwordScorer(checked_hotwords(hotwords, alphabet), alphabet, hotword_weight))

    def __call__(self, log_probs: torch.Tensor | np.ndarray, lengths) -> list[list[int]]:
        return [list(best.labels) for best, *_ in self.decode_batch(log_probs, lengths, num_best=1)]

    def decode_batch(self, log_probs: torch.Tensor | np.ndarray, lengths,
                     num_best: int | None = None) -> list[list[Hypothesis]]:
        """log_probs (T, N, C), lengths (N,) -> per sample, its best hypotheses (best first), read from its
        first lengths[n] frames only."""
        check_num_classes(log_probs, self.num_classes)
        return beam_search_batch(log_probs, lengths, scorers=self.scorers, num_best=num_best,
                                 **self.search_settings)


def checked_hotwords(hotwords: Sequence[str] | str, alphabet: Alphabet) -> list[str]:
    if isinstance(hotwords, str):  # decoder.hotwords=word on the command line: one hotword, not its letters
        hotwords = [hotwords]
    phrases = [" ".join(str(phrase).split()) for phrase in hotwords]
    for phrase in phrases:
        unknown = alphabet.unknown_characters(phrase)
        if unknown or not phrase:
            raise LanguageModelError(f"hotword {phrase!r}: " + (f"has characters the model cannot write "
                                     f"({''.join(sorted(unknown))!r}); fix its case" if unknown else "is empty"))
    return phrases

"""Shallow fusion of n-gram language models: score = log p_ctc + alpha * log p_lm + beta * (#words or #chars).

WordLMScorer reads words out of the beam's characters. A word is scored once, when it is complete (the beam
appends a space, or the utterance ends), so a partial word is never punished for not being a word yet; each
complete word also earns beta. The exception: a partial word that stops being the beginning of any LM word is
an unknown word whatever follows, and gets the LM's <unk> score at once instead of at its end (otherwise beams
that glue words together, never paying for a word, would win); from then on all unknown words are one state, and
<unk> in the history of the words after them, as KenLM reads them. CharLMScorer scores every character (space
included) and gives beta per character. Both are built by `word_ngram` / `char_ngram` from a model file and checked against the model's
alphabet at load time. (A neural LM with a batched state per beam implements recog.decoding.scorers.Scorer
directly.)
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from recog.alphabet import SPACE_TOKEN, Alphabet
from recog.decoding.ngram import (LN_10, SENTENCE_END, SENTENCE_START, SPECIAL_TOKENS, UNKNOWN,
                                  LanguageModelError, check_vocabulary, load_ngram)
from recog.decoding.scorers import PerBeamScorer

log = logging.getLogger(__name__)

# (the last order-1 complete words, the word being spelled: None once it is no beginning of any LM word)
WordState = tuple[tuple[str, ...], str | None]


class WordLMScorer(PerBeamScorer):
    def __init__(self, lm, alphabet: Alphabet, alpha: float, beta: float):
        super().__init__(alphabet)
        if " " not in alphabet:
            raise LanguageModelError("a word language model needs a space in the model's alphabet to find words; "
                                     "use a character LM (decoder=beam_char_lm) for this model")
        self.lm = lm
        self.space = alphabet.encode(" ")[0]
        self.alpha = alpha * LN_10  # log10 -> natural log, then the fusion weight
        self.beta = beta
        self.history_size = max(lm.order - 1, 1)
        # beginnings of LM words (None: the LM does not list its words, unknown words are scored at their end)
        self.word_prefixes = None if lm.vocabulary is None else \
            {word[:end] for word in lm.vocabulary - SPECIAL_TOKENS for end in range(len(word) + 1)}
        self._leaving: dict[str, np.ndarray] = {}
        self._unknown_scores: dict[tuple[str, ...], float] = {}

    def initial(self) -> WordState:
        return (SENTENCE_START,), ""

    def row(self, state: WordState) -> np.ndarray:
        history, word = state
        if word is None:  # an unknown word, already paid for: its end only earns beta
            row = np.zeros(self.num_classes)
            row[self.space] = self.beta
            return row
        row = self._leaving_the_vocabulary(word) * self._unknown_score(history)
        if word:
            row[self.space] = self._completion(history, word)
        return row

    def _leaving_the_vocabulary(self, word: str) -> np.ndarray:
        """(C,) 1.0 for the letters that turn this beginning of LM words into no beginning of any, else 0.0
        (cached per word: the beam search meets the same partial word after many histories)."""
        leaving = self._leaving.get(word)
        if leaving is None:
            leaving = self._leaving[word] = np.array(
                [0.0] + [float(label != self.space and not self._known_so_far(word + symbol))
                         for label, symbol in enumerate(self.alphabet.symbols, start=1)])
        return leaving

    def _unknown_score(self, history: tuple[str, ...]) -> float:
        score = self._unknown_scores.get(history)
        if score is None:
            score = self._unknown_scores[history] = self.alpha * self.lm.log10_prob(UNKNOWN, history)
        return score

    def step(self, state: WordState, symbol: str) -> WordState:
        history, word = state
        if symbol != " ":
            return history, None if word is None or not self._known_so_far(word + symbol) else word + symbol
        return (self._extended(history, word), "") if word != "" else state

    def final(self, state: WordState) -> float:
        history, word = state
        score = 0.0
        if word != "":
            score += self.beta if word is None else self._completion(history, word)
            history = self._extended(history, word)
        return score + self.alpha * self.lm.log10_prob(SENTENCE_END, history)

    def _known_so_far(self, word: str) -> bool:
        return self.word_prefixes is None or word in self.word_prefixes

    def _completion(self, history: tuple[str, ...], word: str) -> float:
        """alpha * log p(word | history) + beta for a word that may be an LM word (most partial words are not:
        they complete as <unk>, whose score is cached per history)."""
        if self.lm.vocabulary is not None and word not in self.lm.vocabulary:
            return self._unknown_score(history) + self.beta
        return self.alpha * self.lm.log10_prob(word, history) + self.beta

    def _extended(self, history: tuple[str, ...], word: str | None) -> tuple[str, ...]:
        return (history + (UNKNOWN if word is None else word,))[-self.history_size:]


class CharLMScorer(PerBeamScorer):
    """State: the last order-1 LM tokens (a space is the token <space>, as in alphabet files)."""

    def __init__(self, lm, alphabet: Alphabet, alpha: float, beta: float):
        super().__init__(alphabet)
        self.lm = lm
        self.tokens = [char_token(symbol) for symbol in alphabet.symbols]  # class i + 1 -> token
        self.alpha = alpha * LN_10
        self.beta = beta
        self.history_size = max(lm.order - 1, 1)

    def initial(self) -> tuple[str, ...]:
        return (SENTENCE_START,)

    def row(self, state: tuple[str, ...]) -> np.ndarray:
        scores = [self.alpha * self.lm.log10_prob(token, state) + self.beta for token in self.tokens]
        return np.array([0.0] + scores)

    def step(self, state: tuple[str, ...], symbol: str) -> tuple[str, ...]:
        return (state + (char_token(symbol),))[-self.history_size:]

    def final(self, state: tuple[str, ...]) -> float:
        return self.alpha * self.lm.log10_prob(SENTENCE_END, state)


def char_token(symbol: str) -> str:
    """How a character is written as a token of a character LM (recog-lm --unit char)."""
    return SPACE_TOKEN if symbol == " " else symbol


def word_ngram(path: str | Path, alphabet: Alphabet, alpha: float, beta: float) -> WordLMScorer:
    """A word n-gram (ARPA, or KenLM binary) in shallow fusion; its words are checked against the alphabet."""
    lm = load_ngram(path)
    if lm.vocabulary is None:
        log.warning("%s: a binary LM does not list its words; their characters and case are not checked", path)
    else:
        unwritable = check_vocabulary(path, lm.vocabulary, alphabet.symbols, "words")
        if unwritable:
            log.warning("%s: %d of %d LM words use characters outside the model's alphabet and can never be "
                        "decoded, e.g. %s", path, len(unwritable), len(lm.vocabulary), unwritable[:5])
    return WordLMScorer(lm, alphabet, alpha, beta)


def char_ngram(path: str | Path, alphabet: Alphabet, alpha: float, beta: float) -> CharLMScorer:
    """A character n-gram (tokens: single characters, <space> for a space) in shallow fusion."""
    lm = load_ngram(path)
    if lm.vocabulary is not None:
        characters = [" " if token == SPACE_TOKEN else token for token in lm.vocabulary]
        long_tokens = [t for t in characters if len(t) > 1 and t not in (SENTENCE_START, SENTENCE_END, "<unk>")]
        if long_tokens:
            raise LanguageModelError(f"{path}: a character LM has one character per token, but it lists "
                                     f"{long_tokens[:5]}: is it a word LM? (use decoder=beam_word_lm)")
        check_vocabulary(path, characters, alphabet.symbols, "characters")
    return CharLMScorer(lm, alphabet, alpha, beta)

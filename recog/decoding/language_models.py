"""Shallow fusion of n-gram language models: score = log p_ctc + alpha * log p_lm + beta * (#words or #chars).

WordLMScorer reads words out of the beam's characters. A word is scored once, when it is complete (the beam
appends a space, or the utterance ends), so a partial word is never punished for not being a word yet; each
complete word also earns beta. The exception: a partial word that stops being the beginning of any LM word is
an unknown word whatever follows, and gets the LM's <unk> score at once instead of at its end (otherwise beams
that glue words together, never paying for a word, would win), plus `unknown_word_score` (natural log, -10 by
default as pyctcdecode's unk_score_offset: the <unk> probability of a Kneser-Ney model is that of a rare word,
too cheap for one unknown word standing in for several known ones); from then on all unknown words are one
state, and <unk> in the history of the words after them, as KenLM reads them. CharLMScorer scores every character (space
included) and gives beta per character. Both are built by `word_ngram` / `char_ngram` from a model file and
checked against the model's alphabet at load time.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from recog.alphabet import BLANK_INDEX, SPACE_TOKEN, Alphabet
from recog.decoding.ngram import (LN_10, SENTENCE_END, SENTENCE_START, SPECIAL_TOKENS, UNKNOWN,
                                  LanguageModelError, check_vocabulary, load_ngram)
from recog.decoding.scorers import MAX_CACHED_STATES, PerBeamScorer, Scorer, with_room

log = logging.getLogger(__name__)

ROOT_WORD, UNKNOWN_WORD = 0, 1  # spelling nodes: no word begun; a word that no LM word begins with


@dataclass
class WordBeamStates:
    history: np.ndarray  # (B,) int64 id of the last order-1 complete words
    word: np.ndarray  # (B,) int64 spelling node of the word being spelled
    completion: np.ndarray  # (B,) float64 what a space or the end adds now (0 when no word is being spelled)


class WordLMScorer(Scorer):
    """A beam's state is three numbers: its history (an id of the last order-1 complete words), the word it is
    spelling (a node of the trie of LM-word beginnings, met so far), and what completing that word earns. The
    tables behind them (per node: its children, and which letters leave the LM's words; per history: the <unk>
    score) are filled when the search first meets a node or a history, so that per frame the bonus is one
    gather, and Python only runs for what is new and for the words that are complete."""

    def __init__(self, lm, alphabet: Alphabet, alpha: float, beta: float, unknown_word_score: float):
        if " " not in alphabet:
            raise LanguageModelError("a word language model needs a space in the model's alphabet to find words; "
                                     "use a character LM (decoder=beam_char_lm) for this model")
        self.lm = lm
        self.alphabet = alphabet
        self.space = alphabet.encode(" ")[0]
        self.alpha = alpha * LN_10  # log10 -> natural log, then the fusion weight
        self.beta = beta
        self.unknown_word_score = unknown_word_score
        self.history_size = max(lm.order - 1, 1)
        # each beginning of LM words -> the letters that continue it (None: the LM does not list its words,
        # unknown words are scored at their end)
        self.next_letters = None if lm.vocabulary is None else next_letters(lm.vocabulary - SPECIAL_TOKENS)
        self.label_of = {symbol: label for label, symbol in enumerate(alphabet.symbols, start=1)}
        self._start_over()

    def initial_states(self) -> WordBeamStates:
        if len(self._spellings) + len(self._histories) > MAX_CACHED_STATES:
            self._start_over()  # between searches no beam holds an id
        return WordBeamStates(np.zeros(1, np.int64), np.full(1, ROOT_WORD), np.zeros(1))

    def bonus(self, states: WordBeamStates) -> np.ndarray:
        rows = np.where(self._leaving[states.word], self._unknown_scores[states.history][:, None], 0.0)
        rows[:, self.space] = states.completion
        return rows

    def advance(self, states: WordBeamStates, parents: np.ndarray, classes: np.ndarray) -> WordBeamStates:
        history, word, completion = states.history[parents], states.word[parents], states.completion[parents]
        letters = np.flatnonzero((classes != BLANK_INDEX) & (classes != self.space))
        if letters.size:
            word[letters] = self._children_of(word[letters], classes[letters])
            completion[letters] = self._completions(history[letters], word[letters])
        ended = np.flatnonzero((classes == self.space) & (word != ROOT_WORD))
        if ended.size:
            history[ended] = [self._history_after(h, w) for h, w in zip(history[ended].tolist(), word[ended].tolist())]
            word[ended] = ROOT_WORD
            completion[ended] = 0.0
        return WordBeamStates(history, word, completion)

    def final_bonus(self, states: WordBeamStates) -> np.ndarray:
        """Completing the word being spelled, then the end of the sentence."""
        ends = [self._history_after(h, w) if w != ROOT_WORD else h
                for h, w in zip(states.history.tolist(), states.word.tolist())]
        return states.completion + [self.alpha * self.lm.log10_prob(SENTENCE_END, self._histories[h]) for h in ends]

    def _start_over(self) -> None:
        self._spellings: list[str | None] = ["", None]  # node -> the letters spelled (None: an unknown word)
        self._nodes: dict[str, int] = {"": ROOT_WORD}
        self._children = np.full((2, self.alphabet.num_classes), -1, np.int64)  # (nodes, C), -1: not met yet
        self._children[UNKNOWN_WORD] = UNKNOWN_WORD  # an unknown word stays one
        self._leaving = np.zeros((2, self.alphabet.num_classes), bool)  # (nodes, C) letters that leave LM words
        self._is_word = np.zeros(2, bool)  # (nodes,) whether the LM scores the spelling as itself (not <unk>)
        self._set_up_node(ROOT_WORD)
        self._histories: list[tuple[str, ...]] = []
        self._history_ids: dict[tuple[str, ...], int] = {}
        self._unknown_scores = np.empty(0)  # (histories,) alpha * log p(<unk> | history)
        self._word_completions: dict[tuple[int, int], float] = {}  # (history, node) of an LM word -> its score
        self._histories_after: dict[tuple[int, int], int] = {}  # (history, node) -> history once the word ends
        self._history_id((SENTENCE_START,))

    def _children_of(self, nodes: np.ndarray, labels: np.ndarray) -> np.ndarray:
        children = self._children[nodes, labels]
        for i in np.flatnonzero(children < 0).tolist():
            children[i] = self._child(int(nodes[i]), int(labels[i]))
        return children

    def _child(self, node: int, label: int) -> int:
        spelling = self._spellings[node] + self.alphabet.symbols[label - 1]
        child = self._nodes.get(spelling) if self._known_so_far(spelling) else UNKNOWN_WORD
        if child is None:
            child = self._nodes[spelling] = len(self._spellings)
            self._spellings.append(spelling)
            self._set_up_node(child)
        self._children[node, label] = child
        return child

    def _set_up_node(self, node: int) -> None:
        if node == len(self._is_word):
            self._children = with_room(self._children, node + 1, -1)
            self._leaving = with_room(self._leaving, node + 1, False)
            self._is_word = with_room(self._is_word, node + 1, False)
        spelling = self._spellings[node]
        if self.next_letters is not None:
            self._leaving[node, 1:] = True
            self._leaving[node, [self.label_of[c] for c in self.next_letters[spelling] if c in self.label_of]] = False
            self._leaving[node, self.space] = False
        self._is_word[node] = bool(spelling) and (self.lm.vocabulary is None or spelling in self.lm.vocabulary)

    def _known_so_far(self, spelling: str) -> bool:
        return self.next_letters is None or spelling in self.next_letters

    def _completions(self, histories: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """alpha * log p(word | history) + beta per beam: the <unk> score for a beginning of LM words that is not
        one itself, beta alone for an unknown word (it paid its <unk> score when it became one)."""
        scores = np.where(nodes == UNKNOWN_WORD, 0.0, self._unknown_scores[histories]) + self.beta
        words = np.flatnonzero(self._is_word[nodes])
        scores[words] = [self._word_completion(h, n) for h, n in zip(histories[words].tolist(), nodes[words].tolist())]
        return scores

    def _word_completion(self, history: int, node: int) -> float:
        score = self._word_completions.get((history, node))
        if score is None:
            score = self._word_completions[history, node] = self.beta + self.alpha * self.lm.log10_prob(
                self._spellings[node], self._histories[history])
        return score

    def _history_after(self, history: int, node: int) -> int:
        after = self._histories_after.get((history, node))
        if after is None:
            word = UNKNOWN if node == UNKNOWN_WORD else self._spellings[node]
            after = self._histories_after[history, node] = self._history_id(
                (self._histories[history] + (word,))[-self.history_size:])
        return after

    def _history_id(self, history: tuple[str, ...]) -> int:
        history_id = self._history_ids.get(history)
        if history_id is None:
            history_id = self._history_ids[history] = len(self._histories)
            self._histories.append(history)
            self._unknown_scores = with_room(self._unknown_scores, history_id + 1, np.nan)
            self._unknown_scores[history_id] = (self.alpha * self.lm.log10_prob(UNKNOWN, history)
                                                + self.unknown_word_score)
        return history_id


def next_letters(words: Iterable[str]) -> dict[str, str]:
    """Each beginning of the words (the empty one included) -> the letters that follow it in some word."""
    following: dict[str, set[str]] = {}
    for word in words:
        for end in range(len(word) + 1):
            letters = following.setdefault(word[:end], set())
            if end < len(word):
                letters.add(word[end])
    return {beginning: "".join(sorted(letters)) for beginning, letters in following.items()}


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


def word_ngram(path: str | Path, alphabet: Alphabet, alpha: float, beta: float,
               unknown_word_score: float = -10.0) -> WordLMScorer:
    """A word n-gram (ARPA, or KenLM binary) in shallow fusion; its words are checked against the alphabet.
    unknown_word_score: added (natural log) to the LM's <unk> score of each word it does not list."""
    if not math.isfinite(unknown_word_score):
        raise LanguageModelError(f"decoder.language_model.unknown_word_score must be a finite number, not "
                                 f"{unknown_word_score}")
    lm = load_ngram(path)
    if lm.vocabulary is None:
        log.warning("%s: a binary LM does not list its words; their characters and case are not checked", path)
    elif not lm.vocabulary - SPECIAL_TOKENS:
        raise LanguageModelError(f"{path}: the LM lists no words besides {', '.join(sorted(SPECIAL_TOKENS))}: "
                                 "build it from a text with words (recog-lm TEXT -o LM.arpa)")
    elif SPACE_TOKEN in lm.vocabulary and all(len(token) == 1 for token in lm.vocabulary - SPECIAL_TOKENS
                                              - {SPACE_TOKEN}):
        raise LanguageModelError(f"{path}: a character LM (its tokens are single characters and {SPACE_TOKEN}): use "
                                 "it with decoder=beam_char_lm, or give a word LM (recog-lm TEXT -o LM.arpa)")
    else:
        unwritable = check_vocabulary(path, lm.vocabulary, alphabet.symbols, "words")
        if unwritable:
            log.warning("%s: %d of %d LM words use characters outside the model's alphabet and can never be "
                        "decoded, e.g. %s", path, len(unwritable), len(lm.vocabulary), unwritable[:5])
    return WordLMScorer(lm, alphabet, alpha, beta, unknown_word_score)


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

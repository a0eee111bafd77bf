"""What the beam search adds to log p_ctc when a beam appends a symbol: the interface every scorer implements.

A scorer (a language model in shallow fusion, a lexicon, hotwords) holds one state per beam, in a form of its
own choosing: a list of small hashable states for the n-gram models and tries (PerBeamScorer), or batched
tensors for a neural LM (e.g. an LSTM's (B, H) hidden state), which the search never looks inside. Per frame
the search asks for `bonus(states)`, a (B, C) matrix of log-domain scores, one row per beam and one column per
class (the blank column is unused), and after choosing the new beams calls `advance` with, for each new beam,
the beam it came from and the class it appended (the blank: nothing appended, same prefix).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Hashable

import numpy as np

from recog.alphabet import BLANK_INDEX, Alphabet

MAX_CACHED_STATES = 100_000  # rows (C floats each) kept per scorer; the cache starts over beyond that


class Scorer(ABC):
    """Batched interface used by recog.decoding.prefix_search.beam_search."""

    @abstractmethod
    def initial_states(self) -> Any:
        """The states of a batch of one beam: the empty prefix."""

    @abstractmethod
    def bonus(self, states: Any) -> np.ndarray:
        """(B, C) float64: the score added when beam b appends class c (already weighted, e.g. alpha * log p)."""

    @abstractmethod
    def advance(self, states: Any, parents: np.ndarray, classes: np.ndarray) -> Any:
        """States of the new beams: new beam i is beam parents[i] followed by classes[i] (the blank: unchanged)."""

    @abstractmethod
    def final_bonus(self, states: Any) -> np.ndarray:
        """(B,) float64: the score added when the utterance ends (the LM's end of sentence, an unfinished word)."""


class PerBeamScorer(Scorer):
    """A scorer whose state per beam is a small hashable value: rows and steps are computed once per state.

    Subclasses define `initial`, `row` (the (C,) bonus of one state), `step` (the state after appending one
    symbol) and `final`; symbols are the alphabet's characters, never class indices.
    """

    def __init__(self, alphabet: Alphabet):
        self.alphabet = alphabet
        self.num_classes = alphabet.num_classes
        self._rows: dict[Hashable, np.ndarray] = {}
        self._steps: dict[tuple[Hashable, int], Hashable] = {}

    @abstractmethod
    def initial(self) -> Hashable: ...

    @abstractmethod
    def row(self, state: Hashable) -> np.ndarray:
        """(C,) float64 bonus of appending each class to a beam in `state` (column BLANK_INDEX is ignored)."""

    @abstractmethod
    def step(self, state: Hashable, symbol: str) -> Hashable: ...

    @abstractmethod
    def final(self, state: Hashable) -> float: ...

    def initial_states(self) -> list[Hashable]:
        return [self.initial()]

    def bonus(self, states: list[Hashable]) -> np.ndarray:
        rows = self._rows
        return np.stack([rows[s] if s in rows else self._cache_row(s) for s in states])

    def advance(self, states: list[Hashable], parents: np.ndarray, classes: np.ndarray) -> list[Hashable]:
        steps = self._steps
        new_states = []
        for parent, label in zip(parents.tolist(), classes.tolist()):
            state = states[parent]
            if label != BLANK_INDEX:
                key = (state, label)
                state = steps[key] if key in steps else self._cache_step(key)
            new_states.append(state)
        return new_states

    def final_bonus(self, states: list[Hashable]) -> np.ndarray:
        return np.array([self.final(s) for s in states], dtype=np.float64)

    def _cache_row(self, state: Hashable) -> np.ndarray:
        if len(self._rows) >= MAX_CACHED_STATES:
            self._rows.clear()
        self._rows[state] = self.row(state)
        return self._rows[state]

    def _cache_step(self, key: tuple[Hashable, int]) -> Hashable:
        if len(self._steps) >= MAX_CACHED_STATES:
            self._steps.clear()
        state, label = key
        self._steps[key] = self.step(state, self.alphabet.symbols[label - 1])
        return self._steps[key]

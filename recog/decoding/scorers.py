"""What the beam search adds to log p_ctc when a beam appends a symbol: the interface every scorer implements.

A scorer (a language model in shallow fusion, a lexicon, hotwords) holds one state per beam, in a form of its
own choosing: int ids of small hashable states for the n-gram models and tries (PerBeamScorer), or batched
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

MAX_CACHED_STATES = 100_000  # states kept per scorer between searches; beyond that the tables start over


class Scorer(ABC):
    """Batched interface used by recog.decoding.prefix_search.beam_search_batch."""

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
    """A scorer whose state per beam is a small hashable value (an n-gram history, a trie node).

    Subclasses define `initial`, `row` (the (C,) bonus of one state), `step` (the state after appending one
    symbol) and `final`; symbols are the alphabet's characters, never class indices. Each state is computed
    once: it gets an int id, and its row, its final bonus and its successor by each class go into numpy tables,
    so that per frame the beams' states are an int array, their rows one gather, and advancing them one lookup
    (Python runs only for a state or a step not seen before).
    """

    def __init__(self, alphabet: Alphabet):
        self.alphabet = alphabet
        self.num_classes = alphabet.num_classes
        self._start_over()

    @abstractmethod
    def initial(self) -> Hashable: ...

    @abstractmethod
    def row(self, state: Hashable) -> np.ndarray:
        """(C,) float64 bonus of appending each class to a beam in `state` (column BLANK_INDEX is ignored)."""

    @abstractmethod
    def step(self, state: Hashable, symbol: str) -> Hashable: ...

    @abstractmethod
    def final(self, state: Hashable) -> float: ...

    def initial_states(self) -> np.ndarray:
        if len(self._states) > MAX_CACHED_STATES:
            self._start_over()  # between searches no beam holds an id
        return np.array([self._id(self.initial())])

    def bonus(self, states: np.ndarray) -> np.ndarray:
        return self._rows[states]

    def advance(self, states: np.ndarray, parents: np.ndarray, classes: np.ndarray) -> np.ndarray:
        new_states = states[parents]
        appended = np.flatnonzero(classes != BLANK_INDEX)
        successors = self._successors[new_states[appended], classes[appended]]
        missing = np.flatnonzero(successors < 0)
        if missing.size:
            rows = appended[missing]
            successors[missing] = [self._successor(state_id, label) for state_id, label
                                   in zip(new_states[rows].tolist(), classes[rows].tolist())]
        new_states[appended] = successors
        return new_states

    def final_bonus(self, states: np.ndarray) -> np.ndarray:
        finals = self._finals[states]
        for i in np.flatnonzero(np.isnan(finals)).tolist():
            finals[i] = self._finals[states[i]] = self.final(self._states[states[i]])
        return finals

    def _start_over(self) -> None:
        self._ids: dict[Hashable, int] = {}
        self._states: list[Hashable] = []
        self._rows = np.empty((0, self.num_classes))  # (S, C) bonus rows
        self._successors = np.empty((0, self.num_classes), np.int32)  # (S, C) state id after a class, -1: not yet
        self._finals = np.empty(0)  # (S,) final bonus, NaN: not yet

    def _id(self, state: Hashable) -> int:
        state_id = self._ids.get(state)
        if state_id is None:
            state_id = self._ids[state] = len(self._states)
            self._states.append(state)
            if state_id == len(self._rows):
                self._grow()
            self._rows[state_id] = self.row(state)
        return state_id

    def _successor(self, state_id: int, label: int) -> int:
        successor = self._id(self.step(self._states[state_id], self.alphabet.symbols[label - 1]))
        self._successors[state_id, label] = successor
        return successor

    def _grow(self) -> None:
        self._rows = with_room(self._rows, len(self._states), np.nan)
        self._successors = with_room(self._successors, len(self._states), -1)
        self._finals = with_room(self._finals, len(self._states), np.nan)


def with_room(table: np.ndarray, rows: int, fill) -> np.ndarray:
    """`table`, or a copy twice as long (new rows filled with `fill`) if it has fewer than `rows` rows: the
    tables of states that scorers fill as the search meets them."""
    if len(table) >= rows:
        return table
    extra = np.full((max(64, len(table), rows - len(table)), *table.shape[1:]), fill, table.dtype)
    return np.concatenate([table, extra])

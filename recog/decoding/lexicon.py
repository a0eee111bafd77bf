"""Word lists in the beam search: a lexicon constraint (only listed words) and hotwords (listed words or phrases
earn a bonus), both on a character trie walked one symbol at a time."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from recog.alphabet import Alphabet
from recog.decoding.ngram import LanguageModelError
from recog.decoding.scorers import PerBeamScorer
from recog.errors import read_utf8_lines

ROOT = 0


class CharTrie:
    """Strings as paths of characters: node ids, children per node, which nodes end a string, node depths."""

    def __init__(self, strings: Iterable[str]):
        self.children: list[dict[str, int]] = [{}]
        self.ends: list[bool] = [False]
        self.depth: list[int] = [0]
        for string in strings:
            node = ROOT
            for character in string:
                if character not in self.children[node]:
                    self.children[node][character] = len(self.children)
                    self.children.append({})
                    self.ends.append(False)
                    self.depth.append(self.depth[node] + 1)
                node = self.children[node][character]
            self.ends[node] = True


def read_word_list(path: str | Path, alphabet: Alphabet, what: str) -> list[str]:
    """One word per line; every character must be in the model's alphabet."""
    entries = []
    for number, line in enumerate(read_utf8_lines(path), start=1):
        fields = line.split()
        if len(fields) > 1:
            raise LanguageModelError(f"{path}:{number}: {' '.join(fields)!r} is more than one {what}: list one "
                                     "word per line (of a lexicon with spellings, keep only the first column)")
        entry = "".join(fields)
        if not entry:
            continue
        unknown = alphabet.unknown_characters(entry)
        if unknown:
            other_case = any(c.swapcase() in alphabet for c in unknown)
            raise LanguageModelError(f"{path}:{number}: {what} {entry!r} has characters the model cannot write "
                                     f"({''.join(sorted(unknown))!r}); "
                                     + ("write it in the model's case" if other_case else "remove the line"))
        entries.append(entry)
    if not entries:
        raise LanguageModelError(f"{path}: the {what} file lists nothing")
    return entries


class LexiconScorer(PerBeamScorer):
    """Only words of the lexicon: a symbol is allowed when the word being spelled stays a prefix of a listed
    word, a space when it completes one, and the utterance may only end after a complete word.
    State: the trie node of the word being spelled."""

    def __init__(self, words: Iterable[str], alphabet: Alphabet):
        super().__init__(alphabet)
        self.trie = CharTrie(words)
        self.label_of = {symbol: label for label, symbol in enumerate(alphabet.symbols, start=1)}

    def initial(self) -> int:
        return ROOT

    def row(self, node: int) -> np.ndarray:
        row = np.full(self.num_classes, -np.inf)
        row[[self.label_of[character] for character in self.trie.children[node]]] = 0.0
        if " " in self.label_of and (node == ROOT or self.trie.ends[node]):
            row[self.label_of[" "]] = 0.0
        return row

    def step(self, node: int, symbol: str) -> int:
        return ROOT if symbol == " " else self.trie.children[node][symbol]

    def final(self, node: int) -> float:
        return 0.0 if node == ROOT or self.trie.ends[node] else -np.inf


class HotwordScorer(PerBeamScorer):
    """Listed words or phrases earn `weight` per character while a beam spells them from a word start; a match
    that breaks off gives its bonus back, a complete one keeps it.
    State: (trie node of the current match, whether the next symbol starts a word)."""

    def __init__(self, phrases: Iterable[str], alphabet: Alphabet, weight: float):
        super().__init__(alphabet)
        self.trie = CharTrie(phrases)
        self.weight = weight

    def initial(self) -> tuple[int, bool]:
        return ROOT, True

    def row(self, state: tuple[int, bool]) -> np.ndarray:
        return np.array([0.0] + [self._gain(state, symbol) for symbol in self.alphabet.symbols])

    def step(self, state: tuple[int, bool], symbol: str) -> tuple[int, bool]:
        child = self._child(state, symbol)
        if child is not None:
            return child, False
        return ROOT, symbol == " "

    def final(self, state: tuple[int, bool]) -> float:
        node, _ = state
        return 0.0 if self.trie.ends[node] else -self.weight * self.trie.depth[node]

    def _child(self, state: tuple[int, bool], symbol: str) -> int | None:
        node, word_start = state
        if node == ROOT and not word_start:
            return None
        return self.trie.children[node].get(symbol)

    def _gain(self, state: tuple[int, bool], symbol: str) -> float:
        node, _ = state
        if self._child(state, symbol) is not None:
            return self.weight
        if symbol == " " and self.trie.ends[node]:
            return 0.0  # a complete match: the space ends it and the bonus is kept
        return -self.weight * self.trie.depth[node]

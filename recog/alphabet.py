"""Alphabet: characters <-> class indices, with the CTC blank at a reserved index.

Class 0 is always the blank. Symbols occupy classes 1..|L|, so a model over this alphabet has |L|+1
outputs. Encoding text can never produce the blank (case B04: "-" is an ordinary character), and
decode(encode(s)) == s for every string over the alphabet.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable, Sequence

from recog.errors import RecogError, read_utf8_lines

BLANK_INDEX = 0
UNKNOWN_SYMBOL = "\ufffd"  # "�", the class that unknown characters map to under policy "unknown"
SPACE_TOKEN = "<space>"  # how a space is written in an alphabet file (one symbol per line)
UNKNOWN_CHAR_POLICIES = ("skip", "unknown", "fail")
ENGLISH_SPEECH_SYMBOLS = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ' ")  # the 28 symbols of LibriSpeech transcripts


class AlphabetError(RecogError):
    pass


class UnknownCharacterError(KeyError):
    def __init__(self, text: str, characters: set[str]):
        self.characters = characters
        listed = ", ".join(repr(c) for c in sorted(characters))
        super().__init__(f"characters not in the alphabet: {listed} (in {text!r})")


class Alphabet:
    """An ordered set of symbols (single characters); symbol i has class index i + 1."""

    def __init__(self, symbols: Sequence[str]):
        symbols = list(symbols)
        bad = [s for s in symbols if len(s) != 1]
        if bad:
            raise AlphabetError(f"alphabet symbols must be single characters, got {bad!r}")
        duplicates = sorted({s for s in symbols if symbols.count(s) > 1})
        if duplicates:
            raise AlphabetError(f"alphabet has duplicate symbols: {duplicates!r}")
        self.symbols = symbols
        self._index = {symbol: i + 1 for i, symbol in enumerate(symbols)}

    @property
    def num_classes(self) -> int:
        """|L| + 1: every symbol plus the blank."""
        return len(self.symbols) + 1

    @property
    def has_unknown(self) -> bool:
        return UNKNOWN_SYMBOL in self._index

    def __len__(self) -> int:
        return len(self.symbols)

    def __contains__(self, character: str) -> bool:
        return character in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Alphabet) and self.symbols == other.symbols

    def __repr__(self) -> str:
        return f"Alphabet({''.join(self.symbols)!r})"

    def unknown_characters(self, text: str) -> set[str]:
        return {c for c in text if c not in self._index}

    def encode(self, text: str) -> list[int]:
        """Class indices of `text`; unknown characters map to the unknown symbol if the alphabet has one."""
        unknown = self.unknown_characters(text)
        if unknown and not self.has_unknown:
            raise UnknownCharacterError(text, unknown)
        unknown_index = self._index.get(UNKNOWN_SYMBOL)
        return [self._index.get(c, unknown_index) for c in text]

    def decode(self, indices: Iterable[int]) -> str:
        """Text of class indices (blanks are skipped; collapsing repeats is the decoder's job)."""
        return "".join(self.symbols[i - 1] for i in indices if i != BLANK_INDEX)

    def extended(self, new_symbols: Iterable[str]) -> "Alphabet":
        """This alphabet plus the new symbols appended in sorted order; existing indices are unchanged."""
        added = sorted(set(new_symbols) - set(self.symbols))
        return Alphabet(self.symbols + added)

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> "Alphabet":
        return cls(sorted(set().union(*map(set, texts))))

    @classmethod
    def from_file(cls, path: str | Path) -> "Alphabet":
        """One symbol per line (UTF-8); a space is written as <space>."""
        symbols, seen = [], {}
        for number, line in enumerate(read_utf8_lines(path), start=1):
            if line == "":
                continue
            symbol = " " if line == SPACE_TOKEN else line
            if len(symbol) != 1:
                raise AlphabetError(f"{path}:{number}: {line!r} is not one character (write a space as {SPACE_TOKEN})")
            if symbol in seen:
                raise AlphabetError(f"{path}:{number}: {line!r} already listed on line {seen[symbol]}")
            seen[symbol] = number
            symbols.append(symbol)
        if not symbols:
            raise AlphabetError(f"{path}: the alphabet file lists no symbols")
        return cls(symbols)

    def to_file(self, path: str | Path) -> None:
        lines = [SPACE_TOKEN if s == " " else s for s in self.symbols]
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def find_unknown_characters(
    alphabet: Alphabet, lines: Iterable[tuple[str, str]]
) -> dict[str, list[str]]:
    """For each character missing from the alphabet, the ids of the lines that contain it.

    `lines` yields (line_id, text). Characters are reported in sorted order.
    """
    found: dict[str, list[str]] = defaultdict(list)
    for line_id, text in lines:
        for character in sorted(alphabet.unknown_characters(text)):
            found[character].append(line_id)
    return dict(sorted(found.items()))


def format_unknown_report(unknown: dict[str, list[str]], max_ids: int = 5) -> str:
    """A table: character, code point, number of lines, first line ids."""
    rows = []
    for character, line_ids in unknown.items():
        shown = ", ".join(line_ids[:max_ids]) + (" ..." if len(line_ids) > max_ids else "")
        rows.append(f"  {character!r:>6} U+{ord(character):04X}  {len(line_ids):5d} lines: {shown}")
    return "\n".join(rows)

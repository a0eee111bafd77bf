"""Character and word error rates, always at corpus level.

CER = (sum of per-line character edit distances) / (sum of reference characters), and WER likewise over
whitespace-separated words (case B11: never the mean of per-line rates). References are compared as they
are, after the one `TextNormalizer` applied to both sides (cases B10, B13): nothing CTC-specific, such as
collapsing repeated letters, ever touches a reference.

Per-line distances come from editdistance (fast, used during validation); the substitution / deletion /
insertion breakdown of a final evaluation comes from jiwer. Both count the same Levenshtein distance, and a
test checks that they agree.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

import editdistance
import jiwer


@dataclass
class ErrorCounts:
    """Summable edit-distance counts; rates are derived, so summing across batches or processes is exact."""

    char_errors: int = 0
    chars: int = 0
    word_errors: int = 0
    words: int = 0
    lines: int = 0

    def __add__(self, other: "ErrorCounts") -> "ErrorCounts":
        return ErrorCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def as_list(self) -> list[int]:
        return [getattr(self, f.name) for f in fields(self)]

    @property
    def cer(self) -> float:
        return _rate(self.char_errors, self.chars)

    @property
    def wer(self) -> float:
        return _rate(self.word_errors, self.words)


def _rate(errors: int, total: int) -> float:
    """errors / total; an empty reference set scores 0 if nothing was hypothesised, else inf."""
    if total == 0:
        return 0.0 if errors == 0 else float("inf")
    return errors / total


def line_error_counts(reference: str, hypothesis: str) -> ErrorCounts:
    """Edit distances of one line, on characters and on whitespace-separated words."""
    reference_words, hypothesis_words = reference.split(), hypothesis.split()
    return ErrorCounts(
        char_errors=editdistance.eval(reference, hypothesis),
        chars=len(reference),
        word_errors=editdistance.eval(reference_words, hypothesis_words),
        words=len(reference_words),
        lines=1,
    )


def corpus_error_counts(references: Sequence[str], hypotheses: Sequence[str]) -> ErrorCounts:
    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    return sum(map(line_error_counts, references, hypotheses), ErrorCounts())


@dataclass
class ErrorBreakdown:
    substitutions: int
    deletions: int
    insertions: int
    hits: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions


def error_breakdown(references: Sequence[str], hypotheses: Sequence[str]) -> dict[str, ErrorBreakdown]:
    """Substitutions, deletions, insertions and hits over the corpus, for words and for characters.

    Lines whose reference is empty have no words to align in jiwer; their hypothesis words (if any) are
    all insertions, counted here directly.
    """
    scored = [(r, h) for r, h in zip(references, hypotheses) if r.split()]
    empty_ref_hypotheses = [h for r, h in zip(references, hypotheses) if not r.split()]
    breakdown = {}
    for unit, process in (("words", jiwer.process_words), ("chars", jiwer.process_characters)):
        if scored:
            output = process([r for r, _ in scored], [h for _, h in scored])
            counts = [output.substitutions, output.deletions, output.insertions, output.hits]
        else:
            counts = [0, 0, 0, 0]
        counts[2] += sum(len(h.split() if unit == "words" else h) for h in empty_ref_hypotheses)
        breakdown[unit] = ErrorBreakdown(*counts)
    return breakdown

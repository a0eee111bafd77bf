"""Interpolated Kneser-Ney n-gram estimation from tokenised sentences, written as an ARPA file.

Each sentence is padded as <s> tokens </s>. The highest order uses raw counts; a lower-order n-gram uses its
continuation count (the number of distinct tokens seen before it), except n-grams starting with <s>, which
nothing can precede and which keep their raw counts. With c the (adjusted) count of order k, context h:

    p(w | h) = max(c(h w) - D_k, 0) / c(h .)  +  D_k * N1+(h .) / c(h .) * p(w | h[1:])
    p(w)     = max(c(w) - D_1, 0) / c(.)  +  D_1 * N1+(.) / c(.) / |V|          (|V| counts <unk>, not <s>)

D_k = n1 / (n1 + 2 n2) from the counts of counts of order k (<s> left out; 0.5 when n1 or n2 is 0, KenLM's fallback). In
ARPA form every listed n-gram carries its interpolated probability and every context h the back-off weight
D_k * N1+(h .) / c(h .), so the back-off rule of recog/decoding/ngram.py gives exactly these probabilities.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from recog.decoding.ngram import SENTENCE_END, SENTENCE_START, UNKNOWN

FALLBACK_DISCOUNT = 0.5
NEVER_LOG10 = -99.0  # ARPA's log10 probability of <s>, which is never predicted


def raw_counts(sentences: Iterable[list[str]], order: int) -> list[Counter]:
    """counts[k - 1][gram]: how often each k-gram occurs, k = 1..order, in the padded sentences."""
    counts = [Counter() for _ in range(order)]
    for tokens in sentences:
        padded = [SENTENCE_START, *tokens, SENTENCE_END]
        for k in range(1, order + 1):
            counts[k - 1].update(tuple(padded[i : i + k]) for i in range(len(padded) - k + 1))
    return counts


def kneser_ney_counts(counts: list[Counter]) -> list[Counter]:
    """The counts KN estimates from: raw for the highest order and for n-grams starting with <s>, continuation
    counts N1+(. gram) otherwise."""
    adjusted = [Counter() for _ in counts]
    adjusted[-1] = Counter(counts[-1])
    for k in range(len(counts) - 1):
        continuation = Counter(gram[1:] for gram in counts[k + 1])
        adjusted[k] = Counter({gram: raw if gram[0] == SENTENCE_START else continuation[gram]
                               for gram, raw in counts[k].items()})
    return adjusted


def discount(counts: Counter) -> float:
    counts_of_counts = Counter(counts.values())
    n1, n2 = counts_of_counts[1], counts_of_counts[2]
    return n1 / (n1 + 2 * n2) if n1 and n2 else FALLBACK_DISCOUNT


@dataclass
class NGramEstimate:
    probs: list[dict[tuple[str, ...], float]]  # per order: n-gram -> interpolated probability
    backoffs: dict[tuple[str, ...], float]  # context -> back-off weight (probability domain)
    discounts: list[float]  # D_k per order


def estimate(sentences: Iterable[list[str]], order: int) -> NGramEstimate:
    adjusted = kneser_ney_counts(raw_counts(sentences, order))
    unigrams = Counter({gram: count for gram, count in adjusted[0].items() if gram != (SENTENCE_START,)})
    discounts = [discount(unigrams)] + [discount(c) for c in adjusted[1:]]
    vocabulary_size = len(unigrams | {(UNKNOWN,): 0})
    total, d = sum(unigrams.values()), discounts[0]
    uniform_share = d * sum(1 for c in unigrams.values() if c > 0) / total / vocabulary_size
    probs = [{gram: max(count - d, 0) / total + uniform_share for gram, count in unigrams.items()}]
    probs[0].setdefault((UNKNOWN,), uniform_share)
    backoffs = {}
    for k in range(1, order):
        d = discounts[k]
        totals, types = Counter(), Counter()
        for gram, count in adjusted[k].items():
            totals[gram[:-1]] += count
            types[gram[:-1]] += 1
        for context in totals:
            backoffs[context] = d * types[context] / totals[context]
        probs.append({gram: max(count - d, 0) / totals[gram[:-1]] + backoffs[gram[:-1]] * probs[k - 1][gram[1:]]
                      for gram, count in adjusted[k].items()})
    return NGramEstimate(probs, backoffs, discounts)


def write_arpa(model: NGramEstimate, path: str | Path) -> None:
    lines = ["\\data\\"]
    lines += [f"ngram {k}={len(probs) + (k == 1)}" for k, probs in enumerate(model.probs, start=1)]
    for k, probs in enumerate(model.probs, start=1):
        lines += ["", f"\\{k}-grams:"]
        entries = dict(probs)
        if k == 1:
            entries[(SENTENCE_START,)] = None
        for gram in sorted(entries):
            prob = entries[gram]
            fields = [f"{NEVER_LOG10 if prob is None else math.log10(prob):.7f}", " ".join(gram)]
            if gram in model.backoffs:
                fields.append(f"{math.log10(model.backoffs[gram]):.7f}")
            lines.append("\t".join(fields))
    lines += ["", "\\end\\", ""]
    Path(path).write_text("\n".join(lines), encoding="utf-8")

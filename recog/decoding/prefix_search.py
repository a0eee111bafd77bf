"""CTC prefix beam search over one utterance's (T, C) natural-log posteriors, vectorised over beams x classes.

Each beam is a distinct prefix (label sequence) with two log-probabilities: of the paths so far that end in a
blank (log_p_blank) and of those that end in its last label (log_p_label). Per frame t, for beams b and
classes c (numpy arrays, no Python loop over beams or classes):

    stay, blank:        log_p_blank'(b) = logaddexp(log_p_blank(b), log_p_label(b)) + log y_t(blank)
    stay, repeat:       log_p_label'(b) = log_p_label(b) + log y_t(last(b))     (a repeat collapses into b)
    extend by c:        log_p_label'(b+c) = logaddexp(log_p_blank(b), log_p_label(b)) + log y_t(c)
    extend by last(b):  log_p_label'(b+c) = log_p_blank(b) + log y_t(c)   (a repeated label needs a blank between)

An extension that is already a beam (b+c == b') is merged into b' (its probabilities add), so prefixes stay
unique. The W best candidates (stays and extensions, ranked by log p_ctc plus the scorers' bonuses) become the
next beams. Prefixes are nodes of a trie (an int id per prefix, children in a dict keyed by parent * C + class),
so "is b' the extension of b by c" is an array comparison.

With no scorers and no pruning the search is exact up to the beam: with W at least the number of prefixes it
returns every labelling with its exact log-probability (tests/test_beam_search.py checks it against brute
force), and per frame it only considers the W + 1 most probable classes, which provably changes nothing (each
beam has W better extensions than any other class). Pruning (`top_k` classes, `min_log_prob`) trades exactness
for speed.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from recog.alphabet import BLANK_INDEX
from recog.decoding.scorers import Scorer
from recog.errors import RecogError

NEG_INF = -np.inf


class DecodingError(RecogError):
    pass


@dataclass(frozen=True)
class Hypothesis:
    """One result of the search: a label sequence and its scores (natural logs)."""

    labels: tuple[int, ...]
    score: float  # what the search ranks by: ctc_log_prob + the scorers' bonuses (LM, lexicon, hotwords)
    ctc_log_prob: float  # log p_ctc(labels | input), summed over the paths the search kept (exact if none pruned)


@dataclass
class _Beams:
    """The current beams, as parallel arrays of length B (and one state object per scorer)."""

    node: np.ndarray  # (B,) int64 trie node of the prefix
    parent_node: np.ndarray  # (B,) int64 trie node of the prefix without its last label (-1 for the empty one)
    last: np.ndarray  # (B,) int64 last label (the blank for the empty prefix)
    log_p_blank: np.ndarray  # (B,) float64
    log_p_label: np.ndarray  # (B,) float64
    bonus: np.ndarray  # (B,) float64 the scorers' bonuses accumulated along the prefix
    states: list  # one per scorer


def beam_search(log_probs: np.ndarray, beam_width: int = 32, blank: int = BLANK_INDEX,
                scorers: Sequence[Scorer] = (), top_k: int | None = None, min_log_prob: float | None = None,
                num_best: int | None = None) -> list[Hypothesis]:
    """log_probs (T, C) natural-log posteriors -> the final beams, best first (at most `num_best`).

    top_k: extend by at most this many classes per frame (the most probable); min_log_prob: never extend by a
    class whose log y_t(c) is below it. Both None: exact search within the beam.
    """
    log_probs = check_log_probs(log_probs, blank)
    if beam_width < 1:
        raise DecodingError(f"beam_width must be at least 1, not {beam_width}")
    num_classes = log_probs.shape[1]
    children: dict[int, int] = {}  # parent node * C + label -> child node
    new_node = itertools.count(1).__next__  # node 0 is the empty prefix
    beams = _Beams(np.zeros(1, np.int64), np.full(1, -1, np.int64), np.full(1, blank, np.int64),
                   np.zeros(1), np.full(1, NEG_INF), np.zeros(1), [s.initial_states() for s in scorers])
    for frame in log_probs:
        classes = extension_classes(frame, blank, beam_width, top_k, min_log_prob, exact_shortcut=not scorers)
        beams = _step(beams, frame, classes, blank, beam_width, scorers, children, new_node, num_classes)
    return _finish(beams, scorers, children, num_classes, num_best)


def extension_classes(frame: np.ndarray, blank: int, beam_width: int, top_k: int | None,
                      min_log_prob: float | None, exact_shortcut: bool) -> np.ndarray:
    """The classes beams may be extended by at this frame (K,), never the blank."""
    classes = np.flatnonzero(np.arange(len(frame)) != blank)
    if min_log_prob is not None:
        classes = classes[frame[classes] >= min_log_prob]
    limit = min(top_k or len(classes), beam_width + 1 if exact_shortcut else len(classes))
    if limit < len(classes):
        classes = classes[np.argpartition(frame[classes], -limit)[-limit:]]
    return classes


def _step(beams: _Beams, frame: np.ndarray, classes: np.ndarray, blank: int, beam_width: int,
          scorers: Sequence[Scorer], children: dict[int, int], new_node, num_classes: int) -> _Beams:
    num_beams = len(beams.node)
    log_p_total = np.logaddexp(beams.log_p_blank, beams.log_p_label)  # (B,)
    stay_blank = log_p_total + frame[blank]
    stay_label = beams.log_p_label + frame[beams.last]  # the empty prefix has log_p_label = -inf
    extend = log_p_total[:, None] + frame[classes][None, :]  # (B, K)
    column_of = np.full(num_classes, -1)
    column_of[classes] = np.arange(len(classes))
    repeat = np.flatnonzero(column_of[beams.last] >= 0)  # beams whose last label is a candidate class
    extend[repeat, column_of[beams.last[repeat]]] = beams.log_p_blank[repeat] + frame[beams.last[repeat]]
    stay_label = _merge_extensions_into_beams(beams, frame, log_p_total, stay_label, extend, column_of)
    stay_rank = np.logaddexp(stay_blank, stay_label) + beams.bonus  # (B,)
    if scorers:
        class_bonus = sum(s.bonus(state)[:, classes] for s, state in zip(scorers, beams.states))  # (B, K)
        extend_bonus = beams.bonus[:, None] + class_bonus
        extend_rank = extend + extend_bonus
    else:
        extend_rank = extend
    ranks = np.concatenate([stay_rank, extend_rank.ravel()])
    chosen = np.argpartition(ranks, -beam_width)[-beam_width:] if len(ranks) > beam_width else np.arange(len(ranks))
    chosen = chosen[ranks[chosen] > NEG_INF]
    stays = chosen[chosen < num_beams]
    parents, columns = np.divmod(chosen[chosen >= num_beams] - num_beams, len(classes) or 1)
    labels = classes[columns]
    keys = (beams.node[parents] * num_classes + labels).tolist()
    setdefault = children.setdefault
    new_nodes = np.array([setdefault(key, new_node()) for key in keys], dtype=np.int64)
    return _Beams(
        node=np.concatenate([beams.node[stays], new_nodes]),
        parent_node=np.concatenate([beams.parent_node[stays], beams.node[parents]]),
        last=np.concatenate([beams.last[stays], labels]),
        log_p_blank=np.concatenate([stay_blank[stays], np.full(len(parents), NEG_INF)]),
        log_p_label=np.concatenate([stay_label[stays], extend[parents, columns]]),
        bonus=np.concatenate([beams.bonus[stays], extend_bonus[parents, columns] if scorers else np.zeros(len(parents))]),
        states=[s.advance(state, np.concatenate([stays, parents]), np.concatenate([np.full(len(stays), blank), labels]))
                for s, state in zip(scorers, beams.states)],
    )


def _merge_extensions_into_beams(beams: _Beams, frame: np.ndarray, log_p_total: np.ndarray,
                                 stay_label: np.ndarray, extend: np.ndarray, column_of: np.ndarray) -> np.ndarray:
    """Add to each beam b' = b + c whose parent b is also a beam the mass of that extension, and remove the
    extension from the candidates (it is b' itself). Returns the new log_p_label of the beams (B,)."""
    order = np.argsort(beams.node)
    position = np.searchsorted(beams.node[order], beams.parent_node).clip(max=len(order) - 1)
    parent = order[position]  # (B,) the beam holding each beam's parent prefix, where it is one
    children_of_beams = np.flatnonzero(beams.node[parent] == beams.parent_node)
    if not len(children_of_beams):
        return stay_label
    parent = parent[children_of_beams]
    label = beams.last[children_of_beams]
    source = np.where(beams.last[parent] == label, beams.log_p_blank[parent], log_p_total[parent])
    stay_label = stay_label.copy()
    stay_label[children_of_beams] = np.logaddexp(stay_label[children_of_beams], source + frame[label])
    column = column_of[label]
    considered = column >= 0
    extend[parent[considered], column[considered]] = NEG_INF
    return stay_label


def _finish(beams: _Beams, scorers: Sequence[Scorer], children: dict[int, int], num_classes: int,
            num_best: int | None) -> list[Hypothesis]:
    ctc = np.logaddexp(beams.log_p_blank, beams.log_p_label)
    scores = ctc + beams.bonus + sum((s.final_bonus(state) for s, state in zip(scorers, beams.states)),
                                     np.zeros(len(ctc)))
    order = np.lexsort((-ctc, -scores))[:num_best]  # by score, then (e.g. all -inf under a lexicon) by p_ctc
    key_of = {node: key for key, node in children.items()}
    return [Hypothesis(_labels(int(beams.node[i]), key_of, num_classes), float(scores[i]), float(ctc[i]))
            for i in order]


def _labels(node: int, key_of: dict[int, int], num_classes: int) -> tuple[int, ...]:
    labels = []
    while node:
        node, label = divmod(key_of[node], num_classes)
        labels.append(label)
    return tuple(reversed(labels))


def check_log_probs(log_probs, blank: int) -> np.ndarray:
    """A (T, C) float64 array, or a DecodingError that says what is wrong."""
    array = np.asarray(log_probs, dtype=np.float64)
    if array.ndim != 2:
        raise DecodingError(f"log_probs must be one utterance's (T, C) array, got shape {array.shape}")
    if not 0 <= blank < array.shape[1]:
        raise DecodingError(f"blank index {blank} is outside the {array.shape[1]} classes")
    if np.isnan(array).any() or (array > 1e-6).any():
        raise DecodingError("log_probs must be natural-log posteriors (<= 0, no NaN): apply log_softmax first")
    return array


def prefix_beam_search(log_probs: np.ndarray, beam_width: int = 32, *, vocab: Sequence[str],
                       blank: int = BLANK_INDEX) -> str:
    """The best string for one (T, V) array of natural-log posteriors; vocab[c] is the text of class c (the
    blank's entry is ignored), e.g. ["", " ", "a", "b", ...]."""
    if len(vocab) != np.shape(log_probs)[-1]:
        raise DecodingError(f"vocab has {len(vocab)} entries but log_probs has {np.shape(log_probs)[-1]} classes: "
                            "give the text of every class, the blank included")
    (best,) = beam_search(log_probs, beam_width=beam_width, blank=blank, num_best=1)
    return "".join(vocab[label] for label in best.labels)

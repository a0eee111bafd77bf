"""CTC prefix beam search, vectorised over utterances x beams x classes.

Each beam is a distinct prefix (label sequence) with two log-probabilities: of the paths so far that end in a
blank (log_p_blank) and of those that end in its last label (log_p_label). Per frame t, for utterances n, beams
b and classes c (numpy arrays of shape (N, W) and (N, W, K): no Python loop over utterances, beams or classes):

    stay, blank:        log_p_blank'(b) = logaddexp(log_p_blank(b), log_p_label(b)) + log y_t(blank)
    stay, repeat:       log_p_label'(b) = log_p_label(b) + log y_t(last(b))     (a repeat collapses into b)
    extend by c:        log_p_label'(b+c) = logaddexp(log_p_blank(b), log_p_label(b)) + log y_t(c)
    extend by last(b):  log_p_label'(b+c) = log_p_blank(b) + log y_t(c)   (a repeated label needs a blank between)

An extension that is already a beam (b+c == b') is merged into b' (its probabilities add), so prefixes stay
unique. The W best candidates of each utterance (stays and extensions, ranked by log p_ctc plus the scorers'
bonuses) become its next beams. A prefix is identified by a 64-bit hash of its labels (built one label at a
time, so "is b' the extension of b by c" is an array comparison; two prefixes compared in a search collide with
probability about 2^-50 or less), and its labels are read back at the end through per-frame back-pointers.
Utterances are processed longest first; one that has ended drops out of the arrays and is finished.

With no scorers and no pruning the search is exact up to the beam: with W at least the number of prefixes it
returns every labelling with its exact log-probability (tests/test_beam_search.py checks it against brute
force), and per frame it only considers the W + 1 most probable classes, which provably changes nothing (each
beam has W better extensions than any other class). Pruning (`top_k` classes, `min_log_prob`) trades exactness
for speed.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from recog.alphabet import BLANK_INDEX
from recog.decoding.inputs import DecodingError, checked_batch, checked_integer, checked_log_prob
from recog.decoding.scorers import Scorer

NEG_INF = -np.inf


@dataclass(frozen=True)
class Hypothesis:
    """One result of the search: a label sequence and its scores (natural logs)."""

    labels: tuple[int, ...]
    score: float  # what the search ranks by: ctc_log_prob + the scorers' bonuses (LM, lexicon, hotwords)
    ctc_log_prob: float  # log p_ctc(labels | input), summed over the paths the search kept (exact if none pruned)


@dataclass
class _Beams:
    """The beams of the n utterances still running: arrays (n, W) (and one state object per scorer, over the
    n * W beams flattened). A slot that holds no beam has log_p_blank = log_p_label = -inf."""

    prefix: np.ndarray  # uint64 hash of the prefix
    parent: np.ndarray  # uint64 hash of the prefix without its last label (EMPTY_PARENT for the empty prefix)
    # (a slot without a beam has prefix DEAD_PREFIX and parent DEAD_PARENT: it is nobody's parent or child)
    last: np.ndarray  # int64 last label (the blank for the empty prefix)
    log_p_blank: np.ndarray  # float64
    log_p_label: np.ndarray  # float64
    bonus: np.ndarray  # float64 the scorers' bonuses accumulated along the prefix
    states: list  # one per scorer

    def empty(self, slots: np.ndarray) -> None:
        """Hold no beam in these slots ((n, W) bool)."""
        self.prefix[slots], self.parent[slots] = DEAD_PREFIX, DEAD_PARENT
        self.log_p_blank[slots] = self.log_p_label[slots] = NEG_INF

    def rows(self, count: int, scorers: Sequence[Scorer]) -> _Beams:
        """The first `count` utterances' beams."""
        width = self.prefix.shape[1]
        kept = np.arange(count * width)
        states = [s.advance(state, kept, np.full(len(kept), BLANK_INDEX)) for s, state in zip(scorers, self.states)]
        return _Beams(self.prefix[:count], self.parent[:count], self.last[:count], self.log_p_blank[:count],
                      self.log_p_label[:count], self.bonus[:count], states)


EMPTY_PREFIX, EMPTY_PARENT = np.uint64(0x2545_F491_4F6C_DD1D), np.uint64(0xFFFF_FFFF_FFFF_FFFF)
DEAD_PREFIX, DEAD_PARENT = np.uint64(0xFFFF_FFFF_FFFF_FFFE), np.uint64(0xFFFF_FFFF_FFFF_FFFD)
HASH_MULTIPLIER = np.uint64(0x9E37_79B9_7F4A_7C15)


def extended_prefix(prefix: np.ndarray, label: np.ndarray) -> np.ndarray:
    """uint64 hash of each prefix followed by its label: xor the label in, multiply by an odd constant, fold the
    high bits down (each step is a bijection, so P + c and P + d never collide, and P + c, Q + d only when the
    hashes of P and Q differ only in the low bits that labels occupy). uint64 arithmetic wraps around silently.
    0 is the one hash that stays itself under label 0, so no prefix is 0 (EMPTY_PREFIX is not)."""
    mixed = (prefix ^ label.astype(np.uint64)) * HASH_MULTIPLIER
    return mixed ^ (mixed >> np.uint64(29))


def beam_search(log_probs: np.ndarray, beam_width: int = 32, blank: int = BLANK_INDEX,
                scorers: Sequence[Scorer] = (), top_k: int | None = None, min_log_prob: float | None = None,
                num_best: int | None = None) -> list[Hypothesis]:
    """log_probs (T, C) natural-log posteriors -> the final beams, best first (at most `num_best`).

    top_k: extend by at most this many classes per frame (the most probable); min_log_prob: never extend by a
    class whose log y_t(c) is below it. Both None: exact search within the beam.
    """
    check_one_utterance(log_probs)
    (hypotheses,) = beam_search_batch(log_probs[:, None], [len(log_probs)], beam_width, blank, scorers, top_k,
                                      min_log_prob, num_best)
    return hypotheses


def check_one_utterance(log_probs) -> None:
    if np.ndim(log_probs) != 2:
        raise DecodingError(f"log_probs must be one utterance's (T, C) array, got shape {np.shape(log_probs)}")


def beam_search_batch(log_probs: np.ndarray, lengths: Sequence[int], beam_width: int = 32,
                      blank: int = BLANK_INDEX, scorers: Sequence[Scorer] = (), top_k: int | None = None,
                      min_log_prob: float | None = None, num_best: int | None = None) -> list[list[Hypothesis]]:
    """log_probs (T, N, C) natural-log posteriors, lengths (N,) -> per utterance, its final beams, best first,
    searched on its first lengths[n] frames only. The same search as `beam_search` on each utterance alone,
    with the per-frame work of all utterances done together."""
    log_probs, lengths = checked_batch(log_probs, lengths, blank)
    log_probs = log_probs.to("cpu", torch.float64).numpy()
    beam_width = checked_integer("beam_width", beam_width, 1)
    top_k = None if top_k is None else checked_integer("top_k", top_k, 1)
    num_best = None if num_best is None else checked_integer("num_best", num_best, 1)
    min_log_prob = checked_log_prob("min_log_prob", min_log_prob)
    if scorers and blank != BLANK_INDEX:
        raise DecodingError(f"LMs, lexicons and hotwords read recog's alphabets, whose blank is class {BLANK_INDEX}, "
                            f"not {blank}")
    beam_width = min(beam_width, _most_labellings(log_probs.shape[0], log_probs.shape[2] - 1, beam_width))
    order = np.argsort(-lengths, kind="stable")  # longest first: the utterances still running are a prefix
    log_probs, lengths = log_probs[:, order], lengths[order]
    limit = min(top_k or beam_width + 1, beam_width + 1) if not scorers else top_k  # see the module docstring
    classes, class_log_probs = candidate_classes(log_probs, blank, limit, min_log_prob)
    beams = _initial_beams(len(lengths), beam_width, blank, scorers)
    back_pointers: list[tuple[np.ndarray, np.ndarray]] = []  # per frame: (source slot, appended label) (n, W)
    results: list[list[Hypothesis]] = [[] for _ in lengths]
    running = len(lengths)
    for t in range(int(lengths.max(initial=0)) + 1):
        still_running = int(np.count_nonzero(lengths > t))
        if still_running < running:
            for row, hypotheses in enumerate(_finish(beams, back_pointers, scorers, still_running, num_best, blank),
                                             start=still_running):
                results[order[row]] = hypotheses
            if still_running == 0:
                break
            beams = beams.rows(still_running, scorers)
            running = still_running
        beams = _step(beams, log_probs[t, :running], classes[t, :running], class_log_probs[t, :running], blank,
                      scorers, back_pointers)
    return results


def _most_labellings(num_frames: int, num_labels: int, cap: int) -> int:
    """How many labellings T frames can spell (sum of L^k for k <= T), or `cap` if it is at least that: a beam
    wider than that would only hold empty slots."""
    total, power = 1, 1
    for _ in range(num_frames):
        power *= num_labels
        total += power
        if total >= cap:
            return cap
    return total


def candidate_classes(log_probs: np.ndarray, blank: int, limit: int | None,
                      min_log_prob: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The classes beams may be extended by, per frame and utterance: (T, N, K) class indices (never the blank)
    and their log-probabilities, -inf where pruned by min_log_prob."""
    num_classes = log_probs.shape[2]
    scores = log_probs.copy()
    scores[..., blank] = NEG_INF
    if min_log_prob is not None:
        scores[scores < min_log_prob] = NEG_INF
    if limit is not None and limit < num_classes - 1:
        classes = np.argpartition(scores, -limit, axis=2)[..., -limit:]
    else:
        labels = np.delete(np.arange(num_classes), blank)
        classes = np.broadcast_to(labels, scores.shape[:2] + labels.shape)
    return classes, np.take_along_axis(scores, classes, axis=2)


def _initial_beams(num_utterances: int, beam_width: int, blank: int, scorers: Sequence[Scorer]) -> _Beams:
    """Each utterance: the empty prefix in slot 0, nothing in the others."""
    shape = (num_utterances, beam_width)
    log_p_blank = np.full(shape, NEG_INF)
    log_p_blank[:, 0] = 0.0
    every_slot_from_the_first = np.zeros(num_utterances * beam_width, np.int64)
    prefix, parent = np.full(shape, DEAD_PREFIX), np.full(shape, DEAD_PARENT)
    prefix[:, 0], parent[:, 0] = EMPTY_PREFIX, EMPTY_PARENT
    return _Beams(prefix, parent, np.full(shape, blank, np.int64),
                  log_p_blank, np.full(shape, NEG_INF), np.zeros(shape),
                  [s.advance(s.initial_states(), every_slot_from_the_first, np.full(shape, blank).ravel())
                   for s in scorers])


def _step(beams: _Beams, frame: np.ndarray, classes: np.ndarray, class_log_probs: np.ndarray, blank: int,
          scorers: Sequence[Scorer], back_pointers: list) -> _Beams:
    """One frame: frame (n, C), classes and class_log_probs (n, K) -> the new beams."""
    num_utterances, width = beams.prefix.shape
    num_candidates = classes.shape[1]
    utterance = np.arange(num_utterances)[:, None]
    log_p_total = np.logaddexp(beams.log_p_blank, beams.log_p_label)  # (n, W)
    stay_blank = log_p_total + frame[:, blank, None]
    last_log_prob = frame[utterance, beams.last]  # (n, W)
    stay_label = beams.log_p_label + last_log_prob  # the empty prefix has log_p_label = -inf
    # ranks: the W stays, then the W x K extensions (beam b by candidate k at column W + b * K + k)
    ranks = np.empty((num_utterances, width * (1 + num_candidates)))
    extend_rank = ranks[:, width:].reshape(num_utterances, width, num_candidates)
    extend = np.empty_like(extend_rank) if scorers else extend_rank  # without scorers the rank is log p_ctc
    is_repeat = classes[:, None, :] == beams.last[:, :, None]  # (n, W, K)
    np.add(np.where(is_repeat, beams.log_p_blank[:, :, None], log_p_total[:, :, None]), class_log_probs[:, None, :],
           out=extend)
    _merge_extensions_into_beams(beams, log_p_total, last_log_prob, stay_label, extend, is_repeat)
    ranks[:, :width] = np.logaddexp(stay_blank, stay_label) + beams.bonus
    if scorers:
        extend_bonus = beams.bonus[:, :, None] + _class_bonus(beams, utterance, classes, blank, scorers)
        np.add(extend, extend_bonus, out=extend_rank)
    alive_rank = ranks > NEG_INF
    if not alive_rank.all():
        np.copyto(ranks, _dead_ranks(ranks.shape[1]), where=~alive_rank)
    chosen = np.argpartition(ranks, -width, axis=1)[:, -width:]
    alive = alive_rank[utterance, chosen]  # chosen: (n, W) stays first, then (beam, class)
    extends = chosen >= width
    source, column = np.divmod(chosen - width, num_candidates)
    source = np.where(extends, source, chosen)  # the slot each new beam comes from
    all_alive = alive.all()
    if not all_alive:  # candidates ranked -inf (no beam in a slot yet, classes a scorer forbids) are no beams
        extends &= alive
    label = np.where(extends, classes[utterance, column], blank)  # what each new beam appended (blank: nothing)
    prefix = beams.prefix[utterance, source]
    back_pointers.append((source.astype(np.int32), label.astype(np.int32)))
    new_beams = _Beams(
        prefix=np.where(extends, extended_prefix(prefix, label), prefix),
        parent=np.where(extends, prefix, beams.parent[utterance, source]),
        last=np.where(extends, label, beams.last[utterance, source]),
        log_p_blank=np.where(extends, NEG_INF, stay_blank[utterance, source]),
        log_p_label=np.where(extends, extend[utterance, source, column], stay_label[utterance, source]),
        bonus=np.where(extends, extend_bonus[utterance, source, column], beams.bonus[utterance, source])
        if scorers else beams.bonus,
        states=[s.advance(state, (utterance * width + source).ravel(), label.ravel())
                for s, state in zip(scorers, beams.states)],
    )
    if not all_alive:
        new_beams.empty(~alive)
    return new_beams


@functools.lru_cache(maxsize=8)
def _dead_ranks(count: int) -> np.ndarray:
    """Distinct finite stand-ins for -inf ranks, below any real one: numpy's argpartition is several times slower
    on many equal values, and a lexicon or an LM makes most candidates -inf."""
    return -1e300 - 1e287 * np.arange(count)


def _merge_extensions_into_beams(beams: _Beams, log_p_total: np.ndarray, last_log_prob: np.ndarray,
                                 stay_label: np.ndarray, extend: np.ndarray, is_repeat: np.ndarray) -> None:
    """Add to each beam b' = b + c whose parent b is also a beam the mass of that extension (in stay_label), and
    remove the extension from the candidates (set to -inf in extend): it is b' itself."""
    utterance, child, parent = _children_and_parents(beams.prefix, beams.parent)
    if not len(utterance):
        return
    label_repeats = beams.last[utterance, parent] == beams.last[utterance, child]
    source = np.where(label_repeats, beams.log_p_blank[utterance, parent], log_p_total[utterance, parent])
    stay_label[utterance, child] = np.logaddexp(stay_label[utterance, child], source + last_log_prob[utterance, child])
    pair, column = np.nonzero(is_repeat[utterance, child])  # the candidate column of each child's label
    extend[utterance[pair], parent[pair], column] = NEG_INF


MAX_PAIRS_COMPARED = 32_768  # beyond n * W * W pairs of beams, finding parents by sorting is faster


def _children_and_parents(prefix: np.ndarray, parent: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """prefix, parent (n, W) hashes -> (utterance, child slot, parent slot) of every beam whose parent is also a
    beam, in (utterance, child) order; at most one parent per child, since prefixes are unique."""
    num_utterances, width = prefix.shape
    if num_utterances * width * width <= MAX_PAIRS_COMPARED:  # compare all pairs: fewest numpy calls
        return np.nonzero(parent[:, :, None] == prefix[:, None, :])  # (n, W child, W parent)
    rows = np.arange(num_utterances, dtype=np.uint64)[:, None]  # hashed in: utterances never share a key
    keys, parent_keys = extended_prefix(prefix, rows).ravel(), extended_prefix(parent, rows).ravel()
    order = np.argsort(keys)
    found = order[np.searchsorted(keys, parent_keys, sorter=order).clip(max=len(keys) - 1)]  # (n * W,)
    child = np.flatnonzero(keys[found] == parent_keys)
    utterance, child_slot = np.divmod(child, width)
    return utterance, child_slot, found[child] % width


def _class_bonus(beams: _Beams, utterance: np.ndarray, classes: np.ndarray, blank: int,
                 scorers: Sequence[Scorer]) -> np.ndarray:
    """(n, W, K) what the scorers add when beam b appends candidate class k."""
    num_utterances, width = beams.prefix.shape
    rows = sum(s.bonus(state) for s, state in zip(scorers, beams.states)).reshape(num_utterances, width, -1)
    if classes.shape[1] == rows.shape[2] - 1:  # every label, in order (candidate_classes without a limit)
        return np.delete(rows, blank, axis=2)
    return rows[utterance[:, :, None], np.arange(width)[None, :, None], classes[:, None, :]]


def _finish(beams: _Beams, back_pointers: list, scorers: Sequence[Scorer], first_row: int,
            num_best: int | None, blank: int) -> list[list[Hypothesis]]:
    """The hypotheses of the utterances in rows first_row: (they have ended), best first."""
    width = beams.prefix.shape[1]
    rows = np.arange(first_row, beams.prefix.shape[0])
    flat = (rows[:, None] * width + np.arange(width)).ravel()
    ctc = np.logaddexp(beams.log_p_blank[rows], beams.log_p_label[rows])  # (r, W)
    final = sum((s.final_bonus(s.advance(state, flat, np.full(len(flat), BLANK_INDEX)))
                 for s, state in zip(scorers, beams.states)), np.zeros(len(flat)))
    scores = ctc + beams.bonus[rows] + final.reshape(len(rows), width)
    results = []
    for row, utterance in enumerate(rows.tolist()):
        live = np.flatnonzero(ctc[row] > NEG_INF)
        order = live[np.lexsort((-ctc[row, live], -scores[row, live]))][:num_best]  # by score, then by p_ctc
        results.append([Hypothesis(_labels(back_pointers, utterance, slot, blank), float(scores[row, slot]),
                                   float(ctc[row, slot])) for slot in order.tolist()])
    return results


def _labels(back_pointers: list, utterance: int, slot: int, blank: int) -> tuple[int, ...]:
    """The labels of the beam in this slot, read backwards through the back-pointers (one lookup per frame)."""
    labels = []
    for source, label in reversed(back_pointers):
        appended = label.item(utterance, slot)
        if appended != blank:
            labels.append(appended)
        slot = source.item(utterance, slot)
    return tuple(reversed(labels))


def prefix_beam_search(log_probs: np.ndarray, beam_width: int = 32, *, vocab: Sequence[str],
                       blank: int = BLANK_INDEX) -> str:
    """The best string for one (T, V) array of natural-log posteriors; vocab[c] is the text of class c (the
    blank's entry is ignored), e.g. ["", " ", "a", "b", ...]."""
    check_one_utterance(log_probs)
    if len(vocab) != np.shape(log_probs)[-1]:
        raise DecodingError(f"vocab has {len(vocab)} entries but log_probs has {np.shape(log_probs)[-1]} classes: "
                            "give the text of every class, the blank included")
    (best,) = beam_search(log_probs, beam_width=beam_width, blank=blank, num_best=1)
    return "".join(vocab[label] for label in best.labels)

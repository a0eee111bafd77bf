r"""Where each character and word of a line is, and how sure the model is, from the exact CTC lattice.

Input: one sample's log-probabilities (T, C) and a label sequence l (the decoded hypothesis, or a
reference). Everything is computed with :mod:`recog.ctc.lattice`, on one lattice for l:

1. Viterbi forced alignment: the single most probable frame path whose collapse is l.
2. Character spans in frames: character u occupies the frames ``[start_u, end_u)`` that path spends at its
   lattice position ``s = 2u + 1`` (one run of consecutive frames; blank frames belong to no character).
3. Word spans: a word is a maximal run of non-space characters; it spans from its first character's start
   to its last character's end. Spaces are characters too (they have spans), but belong to no word.
4. Units: a :class:`FrameGeometry` turns frame boundaries into the input's own units. Images: ``pixels`` of
   the ORIGINAL image, x axis; output frame f covers normalised columns ``[f * stride, (f + 1) * stride)``
   (stride = the front end's horizontal subsampling), times ``original_height / normalised_height``.
   Audio: ``seconds``, frame f starts at ``f * hop * subsampling``. Positions are clipped to the input's
   extent (the last frames can cover padding added up to the minimum width).

Confidences, all in [0, 1]:

* character u: the mean, over its aligned frames t, of the state posterior
  ``gamma_t(2u + 1) = P(frame t is at u's lattice position | x, l)``. It is conditioned on the labelling:
  it says how firmly the character sits on the frames the alignment gives it (1 when every path that
  emits l puts it exactly there), not how likely the character itself is.
* word: the geometric mean of its characters' confidences.
* line: ``p(l|x) ** (1 / |l|)``, the per-character geometric-mean probability of the labelling (summed
  over all its paths), from the CTC negative log-likelihood; 1.0 for an empty line.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from typing import NamedTuple, Sequence

import torch

from recog.alphabet import BLANK_INDEX, Alphabet
from recog.ctc.lattice import character_spans, ctc_negative_log_likelihood, forced_align, state_posteriors
from recog.ctc.loss import min_frames_needed
from recog.errors import RecogError


MAX_LATTICE_CELLS = 20_000_000  # frames x (2|l| + 1): the lattice's float64 tables stay in a few hundred MB


class AlignmentError(RecogError):
    pass


@dataclass(frozen=True)
class FrameGeometry:
    """How output frames map onto the input: frame f covers ``[f * frame_size, (f + 1) * frame_size)``."""

    unit: str  # "pixels" (x in the original image) or "seconds"
    frame_size: float  # units per output frame
    extent: float  # size of the input in units; positions are clipped to [0, extent]

    @classmethod
    def for_image(cls, width_stride: int, original_size: tuple[int, int], normalised_height: int) -> "FrameGeometry":
        """A line image of original_size (width, height) pixels, scaled to normalised_height for the model."""
        width, height = original_size
        return cls("pixels", width_stride * height / normalised_height, float(width))

    @classmethod
    def for_audio(cls, hop_seconds: float, subsampling: int, duration_seconds: float) -> "FrameGeometry":
        """Feature frames every hop_seconds, subsampled in time by the front end."""
        return cls("seconds", hop_seconds * subsampling, duration_seconds)

    def position(self, frame_boundary: float) -> float:
        """Units at a frame boundary (frame f starts at boundary f and ends at f + 1)."""
        return min(frame_boundary * self.frame_size, self.extent)


class FrameAlignment(NamedTuple):
    """Alignment of one label sequence in output frames."""

    spans: list[tuple[int, int]]  # per label (start, end_exclusive) frames
    confidences: list[float]  # per label
    line_confidence: float


@dataclass(frozen=True)
class Span:
    """A character or word with its extent in the geometry's unit."""

    text: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class LineAlignment:
    text: str
    unit: str
    confidence: float
    characters: list[Span]  # one per character of text, spaces included
    words: list[Span]

    def to_dict(self) -> dict:
        """The JSON fields of `recog-transcribe --align` (positions to 3 decimals, confidences to 4)."""
        return {"unit": self.unit, "confidence": round(self.confidence, 4),
                "words": [_span_dict(word) for word in self.words],
                "characters": [_span_dict(character) for character in self.characters]}


def _span_dict(span: Span) -> dict:
    return {**asdict(span), "start": round(span.start, 3), "end": round(span.end, 3),
            "confidence": round(span.confidence, 4)}


def align_frames(log_probs: torch.Tensor, labels: Sequence[int], blank: int = BLANK_INDEX) -> FrameAlignment:
    """Forced alignment of labels to log_probs (T, C), with the confidences of the module docstring."""
    if not labels:
        return FrameAlignment([], [], 1.0)
    cells = log_probs.shape[0] * (2 * len(labels) + 1)
    if cells > MAX_LATTICE_CELLS:
        raise AlignmentError(f"too long to align in one piece ({log_probs.shape[0]} frames x {len(labels)} labels); "
                             "cut the input into parts of a few minutes (or a few thousand pixels) to align it")
    lattice_args = _single_sample(log_probs, labels) + (blank,)
    alignment = forced_align(*lattice_args)
    if alignment.log_score[0] == float("-inf"):
        raise AlignmentError(_infeasible_message(log_probs.shape[0], labels))
    state_path = alignment.state_path[0]  # (T,) lattice position per frame
    gamma = state_posteriors(*lattice_args)[:, 0]  # (T, 2U + 1)
    gamma_on_path = gamma.gather(1, state_path[:, None]).squeeze(1)  # (T,) gamma_t(s_t)
    spans = character_spans(state_path, len(labels))
    confidences = [gamma_on_path[start:end].mean().item() for start, end in spans]
    negative_log_likelihood = ctc_negative_log_likelihood(*lattice_args)[0].item()
    return FrameAlignment(spans, confidences, math.exp(-negative_log_likelihood / len(labels)))


def align_line(log_probs: torch.Tensor, text: str, alphabet: Alphabet, geometry: FrameGeometry,
               blank: int = BLANK_INDEX) -> LineAlignment:
    """Characters and words of text, placed on the input by its log_probs (T, C), in geometry's unit."""
    frames = align_frames(log_probs, alphabet.encode(text), blank)
    characters = [Span(character, geometry.position(start), geometry.position(end), confidence)
                  for character, (start, end), confidence in zip(text, frames.spans, frames.confidences)]
    return LineAlignment(text, geometry.unit, frames.line_confidence, characters, group_words(characters))


def group_words(characters: list[Span]) -> list[Span]:
    """Maximal runs of non-space characters; confidence = geometric mean of the characters'."""
    words = []
    for is_word, run in itertools.groupby(characters, key=lambda span: not span.text.isspace()):
        if is_word:
            run = list(run)
            confidence = math.prod(span.confidence for span in run) ** (1 / len(run))
            words.append(Span("".join(span.text for span in run), run[0].start, run[-1].end, confidence))
    return words


def _single_sample(log_probs: torch.Tensor, labels: Sequence[int]) -> tuple:
    """Lattice arguments for one sample: log_probs (T, 1, C) in float64, targets (1, U), lengths."""
    targets = torch.tensor([list(labels)], dtype=torch.long, device=log_probs.device)  # (1, U)
    return log_probs.double()[:, None], targets, [log_probs.shape[0]], [len(labels)]


def _infeasible_message(num_frames: int, labels: Sequence[int]) -> str:
    targets = torch.tensor([list(labels)])
    needed = int(min_frames_needed(targets, torch.tensor([len(labels)]))[0])
    return (f"cannot align {len(labels)} labels to {num_frames} frames: CTC needs at least {needed} "
            "(one per label, plus a blank between each pair of equal neighbours); the text is too long "
            "for this input")

"""Character and word spans, unit conversions and confidences on hand-made log-probs with known answers."""
from __future__ import annotations

import math

import pytest
import torch

from recog.alignment import AlignmentError, FrameGeometry, align_frames, align_line
from recog.alphabet import Alphabet

ALPHABET = Alphabet([" ", "a", "b"])  # classes: blank 0, space 1, a 2, b 3


def frame_log_probs(rows: list[dict[int, float]], num_classes: int = 4) -> torch.Tensor:
    """(T, C) natural-log probabilities from one {class: probability} dict per frame (others 0)."""
    probabilities = torch.zeros(len(rows), num_classes, dtype=torch.float64)
    for frame, row in enumerate(rows):
        for label, probability in row.items():
            probabilities[frame, label] = probability
    return probabilities.log()


# "a" over 3 frames with P(a) = 0.9, 0.6, 0.2 (else blank). The paths emitting "a" are the runs [i, j] of a:
# [0,0] .288, [0,1] .432, [0,2] .108, [1,1] .048, [1,2] .012, [2,2] .008; p("a"|x) = .896.
# Viterbi: frames 0-1. gamma_0(a) = (.288 + .432 + .108) / .896, gamma_1(a) = (.432 + .108 + .048 + .012) / .896,
# so the confidence is their mean, (.828 + .6) / (2 * .896) = 0.796875 exactly.
UNCERTAIN_A = [{2: 0.9, 0: 0.1}, {2: 0.6, 0: 0.4}, {2: 0.2, 0: 0.8}]


def test_uncertain_frames_give_the_exact_posterior_mean():
    aligned = align_frames(frame_log_probs(UNCERTAIN_A), [2])
    assert aligned.spans == [(0, 2)]
    assert aligned.confidences == [pytest.approx(0.796875, abs=1e-12)]
    assert aligned.line_confidence == pytest.approx(0.896, abs=1e-12)


def test_peaked_frames_are_certain():
    rows = [{2: 1.0}, {2: 1.0}, {0: 1.0}, {3: 1.0}, {0: 1.0}, {2: 1.0}]  # a a _ b _ a
    aligned = align_frames(frame_log_probs(rows), [2, 3, 2])
    assert aligned.spans == [(0, 2), (3, 4), (5, 6)]
    assert aligned.confidences == [1.0, 1.0, 1.0]
    assert aligned.line_confidence == 1.0


def two_words() -> torch.Tensor:
    """'ab a': a certain, b over frames 1-3 as UNCERTAIN_A, space, blank, a. p = .896 (only b is uncertain)."""
    uncertain_b = [{3: row[2], 0: row[0]} for row in UNCERTAIN_A]
    return frame_log_probs([{2: 1.0}, *uncertain_b, {1: 1.0}, {0: 1.0}, {2: 1.0}])


def test_words_span_their_characters_in_original_pixels():
    # stride 4 on a line normalised from height 64 to 32: 8 original pixels per frame
    geometry = FrameGeometry.for_image(width_stride=4, original_size=(60, 64), normalised_height=32)
    aligned = align_line(two_words(), "ab a", ALPHABET, geometry)
    assert aligned.unit == "pixels"
    assert [(c.text, c.start, c.end) for c in aligned.characters] == [
        ("a", 0.0, 8.0), ("b", 8.0, 24.0), (" ", 32.0, 40.0), ("a", 48.0, 56.0)]
    assert [c.confidence for c in aligned.characters] == pytest.approx([1.0, 0.796875, 1.0, 1.0], abs=1e-12)
    assert [(w.text, w.start, w.end) for w in aligned.words] == [("ab", 0.0, 24.0), ("a", 48.0, 56.0)]
    assert [w.confidence for w in aligned.words] == pytest.approx([math.sqrt(0.796875), 1.0], abs=1e-12)
    assert aligned.confidence == pytest.approx(0.896 ** (1 / 4), abs=1e-12)


def test_positions_are_clipped_to_the_original_image():
    geometry = FrameGeometry.for_image(width_stride=4, original_size=(50, 64), normalised_height=32)
    assert align_line(two_words(), "ab a", ALPHABET, geometry).words[-1].end == 50.0


def test_json_fields():
    geometry = FrameGeometry.for_image(width_stride=4, original_size=(60, 64), normalised_height=32)
    record = align_line(two_words(), "ab a", ALPHABET, geometry).to_dict()
    assert record == {
        "unit": "pixels", "confidence": 0.9729,
        "words": [{"text": "ab", "start": 0.0, "end": 24.0, "confidence": 0.8927},
                  {"text": "a", "start": 48.0, "end": 56.0, "confidence": 1.0}],
        "characters": [{"text": "a", "start": 0.0, "end": 8.0, "confidence": 1.0},
                       {"text": "b", "start": 8.0, "end": 24.0, "confidence": 0.7969},
                       {"text": " ", "start": 32.0, "end": 40.0, "confidence": 1.0},
                       {"text": "a", "start": 48.0, "end": 56.0, "confidence": 1.0}]}


def test_pixel_and_second_geometry():
    iam = FrameGeometry.for_image(width_stride=4, original_size=(1661, 89), normalised_height=32)
    assert iam.frame_size == 4 * 89 / 32 == 11.125
    assert iam.position(3) == 33.375 and iam.position(1000) == 1661.0
    audio = FrameGeometry.for_audio(hop_seconds=0.01, subsampling=4, duration_seconds=2.0)
    assert audio.unit == "seconds"
    assert audio.position(25) == pytest.approx(1.0) and audio.position(60) == 2.0


def test_empty_line_has_confidence_one():
    aligned = align_line(frame_log_probs([{0: 1.0}, {0: 0.5, 2: 0.5}]), "", ALPHABET,
                         FrameGeometry("pixels", 8.0, 16.0))
    assert (aligned.characters, aligned.words, aligned.confidence) == ([], [], 1.0)


def test_b01_text_too_long_for_the_frames():
    uniform = torch.full((3, 4), math.log(1 / 4))  # case B01: "aab" needs 4 frames
    with pytest.raises(AlignmentError, match="cannot align 3 labels to 3 frames: CTC needs at least 4"):
        align_frames(uniform, [1, 1, 2])
    assert len(align_frames(torch.full((4, 4), math.log(1 / 4)), [1, 1, 2]).spans) == 3

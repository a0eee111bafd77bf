"""Best-path (greedy) decoding: log-probs (T, N, C) and output lengths -> label index sequences per sample
(GreedyDecoder in decoders.py checks its input and calls it)."""
from __future__ import annotations

import torch

from recog.alphabet import BLANK_INDEX


def best_path(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = BLANK_INDEX) -> list[list[int]]:
    """Best-path (greedy) decoding: frame-wise argmax, collapse repeats, then drop blanks.

    The order matters (case B07): "a a _ a a" collapses to "a _ a" and gives "aa"; dropping blanks first
    would give "a".
    """
    best_classes = log_probs.argmax(dim=-1).T.cpu()  # (N, T)
    return [collapse(frames[:length].tolist(), blank) for frames, length in zip(best_classes, lengths.tolist())]


def collapse(frame_labels: list[int], blank: int = BLANK_INDEX) -> list[int]:
    """The CTC many-to-one map B: merge runs of equal labels, then remove blanks."""
    labels, previous = [], None
    for label in frame_labels:
        if label != previous and label != blank:
            labels.append(label)
        previous = label
    return labels

"""What every decoder reads, checked before any decoding: (T, N, C) natural-log posteriors and (N,) lengths.

A decoder reads sample n on its first lengths[n] frames only: the padding beyond may hold anything (NaN
included). Within the lengths, log-probabilities must be numbers <= 0 with some class above -inf per frame;
frames that do not sum to probability 1 are decoded as given, with a warning (shallow-fusion weights are tuned
on log_softmax outputs).
"""
from __future__ import annotations

import logging
import math
import numbers
import operator

import numpy as np
import torch

from recog.errors import RecogError

log = logging.getLogger(__name__)

NORMALISED_TOLERANCE = 0.05  # |log sum_c y_t(c)| above this: not log_softmax output


class DecodingError(RecogError):
    pass


def checked_batch(log_probs, lengths, blank: int, num_classes: int | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """log_probs (T, N, C) (torch or numpy) and lengths (N,) -> a floating-point tensor (T, N, C) on its device
    and int64 lengths, or a DecodingError that says what is wrong. num_classes: what the decoder's alphabet
    needs (its labels + the blank), when it has one."""
    log_probs = _as_tensor(log_probs)
    if log_probs.ndim != 3:
        raise DecodingError(f"log_probs must be a (T, N, C) array, got shape {tuple(log_probs.shape)}")
    num_frames, batch_size, classes = log_probs.shape
    if num_classes is not None:
        check_num_classes(log_probs, num_classes)
    blank = checked_integer("blank", blank, 0)
    if not blank < classes or classes < 2:
        raise DecodingError(f"blank index {blank} with {classes} classes: log_probs needs the blank and at least "
                            "one label")
    lengths = _checked_lengths(lengths, num_frames, batch_size)
    _check_values(log_probs, lengths)
    return log_probs, lengths


def check_num_classes(log_probs, num_classes: int) -> None:
    """log_probs (..., C) must have the decoder's alphabet's number of classes."""
    classes = np.shape(log_probs)[-1] if np.ndim(log_probs) else None
    if classes != num_classes:
        raise DecodingError(f"log_probs have {classes} classes but the decoder's alphabet has {num_classes - 1} "
                            f"symbols + the blank: decode with the alphabet the model was trained with")


def checked_integer(name: str, value, minimum: int) -> int:
    """A setting that must be a whole number (not a bool, not 2.0), at least `minimum`."""
    try:
        number = operator.index(value)
    except TypeError:
        number = None
    if number is None or isinstance(value, bool) or number < minimum:
        raise DecodingError(f"{name} must be a whole number of at least {minimum}, not {value!r}")
    return number


def checked_log_prob(name: str, value: float | None) -> float | None:
    """A log-probability threshold: None (off) or a number <= 0."""
    if value is not None and not (isinstance(value, numbers.Real) and -math.inf <= value <= 0):
        raise DecodingError(f"{name} must be a natural-log probability (<= 0, e.g. -10) or None (off), not {value!r}")
    return value


def _as_tensor(log_probs) -> torch.Tensor:
    if isinstance(log_probs, torch.Tensor):
        tensor = log_probs.detach()
    else:
        array = np.asarray(log_probs)
        if array.dtype.kind not in "biuf":
            raise DecodingError(f"log_probs must be numbers (a float array or tensor), got dtype {array.dtype}")
        tensor = torch.from_numpy(array if array.flags.writeable else array.copy())
    return tensor if tensor.is_floating_point() else tensor.double()


def _checked_lengths(lengths, num_frames: int, batch_size: int) -> np.ndarray:
    values = np.asarray(lengths.cpu() if isinstance(lengths, torch.Tensor) else lengths).reshape(-1)
    if values.dtype.kind not in "iu" and not (values.size == 0 and values.dtype.kind == "f"):
        raise DecodingError(f"lengths must be whole numbers of frames per sample, got {values.tolist()[:8]} "
                            f"(dtype {values.dtype})")
    values = values.astype(np.int64)
    if len(values) != batch_size or (values < 0).any() or (values > num_frames).any():
        raise DecodingError(f"lengths {values.tolist()} do not fit log_probs of {num_frames} frames x {batch_size} "
                            "samples (T, N, C): one length per sample, each between 0 and T")
    return values


def _check_values(log_probs: torch.Tensor, lengths: np.ndarray) -> None:
    """Within the lengths: no NaN, nothing above 0, some class above -inf in every frame; a warning when frames
    are not normalised."""
    in_length = torch.arange(log_probs.shape[0], device=log_probs.device)[:, None] < torch.from_numpy(lengths).to(
        log_probs.device)[None, :]  # (T, N)
    frames = log_probs[in_length].double()  # (frames read, C)
    if not len(frames):
        return
    bad = torch.isnan(frames).any(dim=1) | (frames > 1e-6).any(dim=1)
    if bad.any():
        raise DecodingError(f"{_where(in_length, _first(bad))}: log_probs must be natural-log posteriors (<= 0, no "
                            "NaN): apply log_softmax over the classes first")
    impossible = torch.isneginf(frames).all(dim=1)
    if impossible.any():
        raise DecodingError(f"{_where(in_length, _first(impossible))}: every class has log-probability -inf "
                            "(probability 0), so no labelling is possible; check the model's output there")
    log_totals = torch.logsumexp(frames, dim=1)
    worst = int(log_totals.abs().argmax())
    if abs(float(log_totals[worst])) > NORMALISED_TOLERANCE:
        log.warning("%s: the class probabilities sum to %.3g, not 1: log_probs should be log_softmax over the "
                    "classes; decoding them as given", _where(in_length, worst), math.exp(float(log_totals[worst])))


def _first(flags: torch.Tensor) -> int:
    return int(flags.to(torch.int8).argmax())


def _where(in_length: torch.Tensor, index: int) -> str:
    """'frame t of sample n' for the index-th frame read (frames read in (t, n) order: in_length (T, N))."""
    frame, sample = in_length.nonzero()[index].tolist()
    return f"frame {frame} of sample {sample}"

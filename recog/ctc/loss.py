"""The training loss: torch's native CTC, in float32, with infeasible samples found and counted first.

A target l is reachable in T frames only if T >= |l| + (number of adjacent equal labels), because each
repeated pair needs a blank between its two labels (case B01: "aab" needs 4 frames, not 3). torch returns
inf for an infeasible sample, and one inf in a batch turns every weight into NaN after the update; we mask
such samples out of the loss and report how many there were, so a dataset problem is visible instead of
silently zeroed.

Mixed precision (case B03): torch's CPU CTC rejects half log-probs and bfloat16 loses too many digits for a
sum over hundreds of frames, so log-softmax and CTC always run in float32, whatever the logits' dtype.

Two implementations compute the same loss and gradient: torch's native kernel ("native", the default: fast)
and our own forward-backward over the lattice ("reference", recog/ctc/lattice.py: the teaching path, and a
check of the native one; select it with `model.loss=reference`).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from recog.alphabet import BLANK_INDEX
from recog.ctc.lattice import reference_ctc_loss
from recog.errors import ConfigError

CTC_IMPLEMENTATIONS = {"native": F.ctc_loss, "reference": reference_ctc_loss}


def log_softmax_float32(logits: torch.Tensor) -> torch.Tensor:
    """Log-probabilities in float32 from logits of any floating dtype (bf16/fp16 under autocast)."""
    return torch.log_softmax(logits.float(), dim=-1)


def count_adjacent_repeats(targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """Number of positions s with l_s == l_{s-1} inside each padded target row. (N, S) -> (N,)"""
    if targets.size(1) < 2:
        return torch.zeros_like(target_lengths)
    equal_to_previous = targets[:, 1:] == targets[:, :-1]  # (N, S-1)
    positions = torch.arange(1, targets.size(1), device=targets.device)
    inside = positions.unsqueeze(0) < target_lengths.unsqueeze(1)
    return (equal_to_previous & inside).sum(dim=1)


def min_frames_needed(targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """Fewest frames that can emit each target: |l| + adjacent repeats. (N,)"""
    return target_lengths + count_adjacent_repeats(targets, target_lengths)


def feasible(input_lengths: torch.Tensor, targets: torch.Tensor, target_lengths: torch.Tensor) -> torch.Tensor:
    """Boolean (N,): can the sample's target be emitted in its number of output frames?"""
    return input_lengths.to(target_lengths.device) >= min_frames_needed(targets, target_lengths)


@dataclass
class CTCLossResult:
    loss: torch.Tensor  # scalar: mean over feasible samples of -ln p(l|x) / |l|
    num_feasible: int
    num_infeasible: int


def ctc_loss(
    log_probs: torch.Tensor,
    targets: torch.Tensor,
    input_lengths: torch.Tensor,
    target_lengths: torch.Tensor,
    blank: int = BLANK_INDEX,
    implementation: str = "native",
) -> CTCLossResult:
    """Mean per-character CTC loss over the feasible samples of a batch.

    log_probs: (T, N, C), any float dtype (computed on in float32); targets: (N, S) padded;
    input_lengths, target_lengths: (N,). Each sample's -ln p(l|x) is divided by its target length (at
    least 1), as torch's reduction="mean" does, so long and short lines weigh alike. A batch with no
    feasible sample gives a zero loss that still depends on log_probs, so every process in a distributed
    run takes part in the backward pass. implementation: "native" (torch) or "reference" (the lattice).
    """
    if implementation not in CTC_IMPLEMENTATIONS:
        raise ConfigError(f"model.loss must be one of {sorted(CTC_IMPLEMENTATIONS)}, not {implementation!r}")
    is_feasible = feasible(input_lengths, targets, target_lengths)
    per_sample = CTC_IMPLEMENTATIONS[implementation](
        log_probs.float(),
        targets,
        input_lengths,
        target_lengths,
        blank=blank,
        reduction="none",
        zero_infinity=True,
    )
    per_char = per_sample / target_lengths.clamp(min=1).to(per_sample.dtype)
    num_feasible = int(is_feasible.sum())
    if num_feasible:
        loss = per_char[is_feasible.to(per_char.device)].mean()
    else:
        loss = log_probs.float().sum() * 0.0
    return CTCLossResult(loss, num_feasible, len(is_feasible) - num_feasible)

r"""Exact CTC computations on the blank-extended label lattice.

This module is the teaching and alignment path of ``recog``: it computes the
CTC likelihood, its gradient, the posteriors and the best alignment directly
from the forward-backward recursions of Graves et al. (2006), in log space.
It follows the conventions of :func:`torch.nn.functional.ctc_loss`:

* ``log_probs``      (T, N, C) float, log-softmax outputs ``ln y_t(k)``;
* ``targets``        (N, S) integer, padded label sequences (padding ignored);
* ``input_lengths``  (N,) frames used per sample (``<= T``);
* ``target_lengths`` (N,) labels used per sample (``<= S``);
* ``blank``          the index of the blank class.

Notation (0-based indices throughout, as in the code)
----------------------------------------------------
``B`` maps a frame-level path to a labelling: merge repeated symbols, then
remove blanks (``B(a a _ a b _) = a a b``).  For a target ``l`` of length
``U`` the *extended* target is ``l'`` of length ``2U + 1``: ``l`` with a blank
before, between and after its labels (``aab -> _ a _ a _ b _``), so even
positions hold blanks and position ``2u + 1`` holds ``l_u``.  The paths ``pi``
with ``B(pi) = l`` are exactly the walks through ``l'`` that at every frame
stay on the same position, move to the next one, or *skip* one position:

    the skip ``s - 2 -> s`` is allowed only when ``l'_s`` is not blank and
    ``l'_s != l'_{s-2}`` (skipping the blank between two equal labels would
    merge them into one).

Every walk starts in position 0 or 1 and ends in position ``2U - 1`` or
``2U`` (the last label or the trailing blank).  A target is *infeasible* when
``T_n < U + (number of adjacent equal label pairs)``: each repeat needs a
blank frame in between, so no walk fits in the frames available.

Forward variables: ``alpha_t(s)`` = total probability of the path prefixes
``pi_0..pi_t`` that end in position ``s`` of ``l'``:

    alpha_0(0) = y_0(blank),   alpha_0(1) = y_0(l_0),   alpha_0(s) = 0 for s > 1
    alpha_t(s) = y_t(l'_s) * ( alpha_{t-1}(s) + alpha_{t-1}(s-1)
                               + [skip allowed into s] * alpha_{t-1}(s-2) )

Backward variables: ``beta_t(s)`` = total probability of the path suffixes
``pi_t..pi_{T_n - 1}`` that start in position ``s`` (``y_t`` is included in
both alpha and beta, as in Graves' paper):

    beta_{T_n-1}(2U) = y_{T_n-1}(blank),   beta_{T_n-1}(2U-1) = y_{T_n-1}(l_{U-1})
    beta_t(s) = y_t(l'_s) * ( beta_{t+1}(s) + beta_{t+1}(s+1)
                              + [skip allowed into s+2] * beta_{t+1}(s+2) )

Each sample uses its own last frame ``T_n - 1``; frames ``t >= T_n`` and
positions ``s >= 2U + 1`` are padding and hold probability 0 (``-inf`` in log
space).  The likelihood of the target is read off the end of the lattice,

    p(l|x) = alpha_{T_n-1}(2U) + alpha_{T_n-1}(2U-1),

and, because every complete path passes through exactly one position at each
frame, it can be read at *any* frame ``t < T_n``:

    p(l|x) = sum_s alpha_t(s) * beta_t(s) / y_t(l'_s).

State and class posteriors (the probability that frame ``t`` is in lattice
position ``s``, or emits class ``k``, given the target):

    gamma_t(s) = alpha_t(s) * beta_t(s) / (y_t(l'_s) * p(l|x))
    gamma_t(k) = sum_{s : l'_s = k} gamma_t(s)       (sums to 1 over k)

Gradient.  ``p`` is linear in each ``y_t(k)``, so for the loss ``-ln p``

    d(-ln p) / d ln y_t(k) = -gamma_t(k).

:func:`torch.nn.functional.ctc_loss` instead returns ``y_t(k) - gamma_t(k)``
w.r.t. ``log_probs``: it assumes ``log_probs`` came from a ``log_softmax`` and
pre-adds the softmax term, so that chaining through ``log_softmax`` gives the
famous ``y_t(k) - gamma_t(k)`` w.r.t. the logits (the extra ``y_t(k)`` term is
annihilated by the log-softmax Jacobian because ``sum_k y_t(k) = 1``).
:class:`ReferenceCTCLoss` reproduces torch's convention exactly.

Forced alignment replaces the sums of the forward recursion by maxima and
keeps back-pointers (Viterbi); backtracking from the better of the two final
positions gives the most probable single path for the target.

All recursions are vectorised over the batch and over lattice positions; only
time is a Python loop.  Log-space sums use :func:`torch.logaddexp` and
:func:`torch.logsumexp`, which return ``-inf`` (not NaN) when every term is
``-inf``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "CTCLattice",
    "ForcedAlignment",
    "ReferenceCTCLoss",
    "build_lattice",
    "character_spans",
    "class_posteriors",
    "ctc_negative_log_likelihood",
    "extend_with_blanks",
    "backward_log_beta",
    "forced_align",
    "forward_log_alpha",
    "frame_log_likelihoods",
    "reference_ctc_loss",
    "state_posteriors",
]

NEG_INF = float("-inf")
Lengths = Tensor | Sequence[int]


# --------------------------------------------------------------------------
# The lattice
# --------------------------------------------------------------------------


def extend_with_blanks(
    targets: Tensor, target_lengths: Lengths, blank: int = 0
) -> tuple[Tensor, Tensor]:
    """Insert blanks around and between the labels: ``aab -> _a_a_b_``.

    Args:
        targets: (N, S) padded label sequences.
        target_lengths: (N,) number of real labels per sample.
        blank: index of the blank class.

    Returns:
        extended_labels: (N, 2S+1) int64 ``l'``; padded positions hold
            ``blank`` so they are always safe indices into the classes.
        valid_positions: (N, 2S+1) bool, True for the ``2 U_n + 1`` real
            positions of each sample.
    """
    batch_size, max_target_length = targets.shape
    target_lengths = _as_lengths(target_lengths, targets.device)
    num_positions = 2 * max_target_length + 1
    positions = torch.arange(num_positions, device=targets.device)
    valid_positions = positions < (2 * target_lengths + 1)[:, None]  # (N, L)
    extended_labels = torch.full(
        (batch_size, num_positions), blank, dtype=torch.long, device=targets.device
    )
    extended_labels[:, 1::2] = targets.long()
    extended_labels = extended_labels.masked_fill(~valid_positions, blank)
    return extended_labels, valid_positions


class CTCLattice(NamedTuple):
    """Everything the recursions need, computed once from the inputs.

    ``L = 2S + 1`` is the number of lattice positions.
    """

    extended_labels: Tensor  # (N, L) l', blank on padded positions
    valid_positions: Tensor  # (N, L) bool
    log_emissions: Tensor  # (T, N, L) ln y_t(l'_s); -inf on padded positions
    skip_allowed: Tensor  # (N, L) bool, may s-2 -> s be taken
    input_lengths: Tensor  # (N,) int64
    target_lengths: Tensor  # (N,) int64

    @property
    def valid_frames(self) -> Tensor:
        """(T, N) bool, True for frames ``t < input_length``."""
        return _valid_frames(self.input_lengths, self.log_emissions.shape[0])


def build_lattice(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Lengths,
    target_lengths: Lengths,
    blank: int = 0,
) -> CTCLattice:
    """Extend the targets and gather their emission log-probabilities.

    Gathering ``ln y_t(l'_s)`` once into a (T, N, L) tensor turns every step
    of the recursions into a handful of element-wise tensor operations.
    Padded frames and padded positions get emission ``-inf`` (probability 0),
    so whatever the padding holds can never enter a path: alpha and beta are
    ``-inf`` there without any further masking.
    """
    _check_shapes(log_probs, targets)
    device = log_probs.device
    input_lengths = _as_lengths(input_lengths, device)
    target_lengths = _as_lengths(target_lengths, device)
    if (input_lengths > log_probs.shape[0]).any():
        raise ValueError("input_lengths must not exceed log_probs.shape[0]")
    if (target_lengths > targets.shape[1]).any():
        raise ValueError("target_lengths must not exceed targets.shape[1]")
    extended_labels, valid_positions = extend_with_blanks(
        targets.to(device), target_lengths, blank
    )
    num_frames = log_probs.shape[0]
    valid_frames = _valid_frames(input_lengths, num_frames)  # (T, N)
    padding = ~valid_frames[:, :, None] | ~valid_positions[None, :, :]  # (T, N, L)
    log_emissions = log_probs.gather(
        2, extended_labels.expand(num_frames, -1, -1)
    ).masked_fill(padding, NEG_INF)
    label_two_back = _shift_right(extended_labels, 2, fill=blank)
    skip_allowed = (extended_labels != blank) & (extended_labels != label_two_back)
    return CTCLattice(
        extended_labels,
        valid_positions,
        log_emissions,
        skip_allowed,
        input_lengths,
        target_lengths,
    )


# --------------------------------------------------------------------------
# Forward and backward recursions
# --------------------------------------------------------------------------


def _forward(lattice: CTCLattice) -> Tensor:
    """(T, N, L) ln alpha, -inf on padded frames and positions."""
    log_emissions = lattice.log_emissions
    skip_log_mask = _log_mask(lattice.skip_allowed)  # (N, L) 0 or -inf
    start_log_mask = _start_log_mask(lattice)
    log_alpha = torch.empty_like(log_emissions)
    log_alpha[0] = log_emissions[0] + start_log_mask
    for t in range(1, log_emissions.shape[0]):
        previous = log_alpha[t - 1]  # (N, L)
        log_alpha[t] = log_emissions[t] + _log_add(
            previous,
            _shift_right(previous, 1),
            _shift_right(previous, 2) + skip_log_mask,
        )
    return log_alpha


def _backward(lattice: CTCLattice) -> Tensor:
    """(T, N, L) ln beta, -inf on padded frames and positions."""
    log_emissions = lattice.log_emissions
    skip_into_next_log_mask = _shift_left(_log_mask(lattice.skip_allowed), 2)
    end_log_mask = _end_log_mask(lattice)
    last_frame = lattice.input_lengths - 1  # (N,)
    log_beta = torch.empty_like(log_emissions)
    following = torch.full_like(log_emissions[0], NEG_INF)  # ln beta_{t+1}
    for t in reversed(range(log_emissions.shape[0])):
        recursed = log_emissions[t] + _log_add(
            following,
            _shift_left(following, 1),
            _shift_left(following, 2) + skip_into_next_log_mask,
        )
        started = log_emissions[t] + end_log_mask
        log_beta[t] = torch.where((last_frame == t)[:, None], started, recursed)
        following = log_beta[t]
    return log_beta


def _log_likelihood(lattice: CTCLattice, log_alpha: Tensor) -> Tensor:
    """(N,) ln p(l|x) = ln(alpha_{T_n-1}(2U) + alpha_{T_n-1}(2U-1))."""
    final_alpha = _at_last_frame(lattice, log_alpha) + _end_log_mask(lattice)
    log_likelihood = torch.logsumexp(final_alpha, dim=1)
    return torch.where(lattice.input_lengths == 0, _no_frames_log_p(lattice), log_likelihood)


def _log_state_posteriors(
    lattice: CTCLattice, log_alpha: Tensor, log_beta: Tensor, log_likelihood: Tensor
) -> Tensor:
    """(T, N, L) ln gamma_t(s); -inf wherever alpha * beta = 0."""
    log_alpha_beta = log_alpha + log_beta
    return torch.where(
        log_alpha_beta == NEG_INF,
        NEG_INF,
        log_alpha_beta - lattice.log_emissions - log_likelihood[:, None],
    )


def _state_posteriors(lattice: CTCLattice) -> Tensor:
    """(T, N, L) gamma_t(s) from both recursions."""
    log_alpha = _forward(lattice)
    log_likelihood = _log_likelihood(lattice, log_alpha)
    return _log_state_posteriors(lattice, log_alpha, _backward(lattice), log_likelihood).exp()


def _sum_per_class(lattice: CTCLattice, per_position: Tensor, num_classes: int) -> Tensor:
    """(T, N, L) values per lattice position -> (T, N, C) sums per class."""
    num_frames, batch_size, _ = per_position.shape
    per_class = per_position.new_zeros(num_frames, batch_size, num_classes)
    labels = lattice.extended_labels.expand(num_frames, -1, -1)
    return per_class.scatter_add_(2, labels, per_position)


# --------------------------------------------------------------------------
# Public computations with torch.nn.functional.ctc_loss arguments
# --------------------------------------------------------------------------


def forward_log_alpha(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Lengths,
    target_lengths: Lengths,
    blank: int = 0,
) -> Tensor:
    """(T, N, 2S+1) ln alpha_t(s); -inf on padded frames and positions."""
    return _forward(build_lattice(log_probs, targets, input_lengths, target_lengths, blank))


def backward_log_beta(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Lengths,
    target_lengths: Lengths,
    blank: int = 0,
) -> Tensor:
    """(T, N, 2S+1) ln beta_t(s); -inf on padded frames and positions."""
    return _backward(build_lattice(log_probs, targets, input_lengths, target_lengths, blank))


def ctc_negative_log_likelihood(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Lengths,
    target_lengths: Lengths,
    blank: int = 0,
    zero_infinity: bool = False,
) -> Tensor:
    """(N,) ``-ln p(l|x)`` per sample (no gradient; see :func:`reference_ctc_loss`).

    Empty targets give ``-sum_t ln y_t(blank)``; infeasible targets give
    ``inf``, or 0 when ``zero_infinity`` is set.
    """
    lattice = build_lattice(log_probs, targets, input_lengths, target_lengths, blank)
    negative_log_likelihood = -_log_likelihood(lattice, _forward(lattice))
    if zero_infinity:
        negative_log_likelihood = _zero_infinite(negative_log_likelihood)
    return negative_log_likelihood


def state_posteriors(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Lengths,
    target_lengths: Lengths,
    blank: int = 0,
) -> Tensor:
    """(T, N, 2S+1) gamma_t(s) = P(frame t is at lattice position s | x, l).

    Zero on padded frames and positions, and for infeasible targets.
    """
    lattice = build_lattice(log_probs, targets, input_lengths, target_lengths, blank)
    return _state_posteriors(lattice)


def class_posteriors(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Lengths,
    target_lengths: Lengths,
    blank: int = 0,
) -> Tensor:
    """(T, N, C) gamma_t(k) = P(frame t emits class k | x, l).

    Sums to 1 over ``k`` on every valid frame of a feasible sample.
    """
    lattice = build_lattice(log_probs, targets, input_lengths, target_lengths, blank)
    return _sum_per_class(lattice, _state_posteriors(lattice), log_probs.shape[2])


def frame_log_likelihoods(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Lengths,
    target_lengths: Lengths,
    blank: int = 0,
) -> Tensor:
    """(T, N) ``ln sum_s alpha_t(s) beta_t(s) / y_t(l'_s)``; -inf on padded frames.

    Every entry of a valid frame equals ``ln p(l|x)``: the forward-backward
    identity, useful to check the two recursions against each other.
    """
    lattice = build_lattice(log_probs, targets, input_lengths, target_lengths, blank)
    log_alpha_beta = _forward(lattice) + _backward(lattice)
    per_position = torch.where(
        log_alpha_beta == NEG_INF, NEG_INF, log_alpha_beta - lattice.log_emissions
    )
    return torch.logsumexp(per_position, dim=2)


# --------------------------------------------------------------------------
# Loss with the lattice gradient
# --------------------------------------------------------------------------


class ReferenceCTCLoss(torch.autograd.Function):
    """Per-sample CTC loss ``-ln p(l|x)`` whose backward uses the lattice.

    ``ReferenceCTCLoss.apply(log_probs, targets, input_lengths,
    target_lengths, blank, zero_infinity)`` returns (N,) losses.  The gradient
    w.r.t. ``log_probs`` is torch's: ``y_t(k) - gamma_t(k)`` on valid frames,
    0 on padded frames, 0 for infeasible samples under ``zero_infinity`` and
    NaN for them otherwise (an infinite loss has no gradient).
    """

    @staticmethod
    def forward(
        ctx,
        log_probs: Tensor,
        targets: Tensor,
        input_lengths: Lengths,
        target_lengths: Lengths,
        blank: int = 0,
        zero_infinity: bool = False,
    ) -> Tensor:
        lattice = build_lattice(log_probs, targets, input_lengths, target_lengths, blank)
        log_alpha = _forward(lattice)
        log_likelihood = _log_likelihood(lattice, log_alpha)
        ctx.lattice = lattice
        ctx.zero_infinity = zero_infinity
        ctx.save_for_backward(log_probs, log_alpha, log_likelihood)
        negative_log_likelihood = -log_likelihood
        if zero_infinity:
            negative_log_likelihood = _zero_infinite(negative_log_likelihood)
        return negative_log_likelihood

    @staticmethod
    def backward(ctx, grad_loss: Tensor):
        log_probs, log_alpha, log_likelihood = ctx.saved_tensors
        lattice: CTCLattice = ctx.lattice
        log_gamma = _log_state_posteriors(
            lattice, log_alpha, _backward(lattice), log_likelihood
        )
        gamma_per_class = _sum_per_class(lattice, log_gamma.exp(), log_probs.shape[2])
        grad = log_probs.exp() - gamma_per_class  # (T, N, C), torch's convention
        infeasible = log_likelihood == NEG_INF  # (N,)
        if ctx.zero_infinity:
            grad = grad.masked_fill(infeasible[None, :, None], 0.0)
        else:
            grad = grad.masked_fill(infeasible[None, :, None], float("nan"))
        grad = grad.masked_fill(~lattice.valid_frames[..., None], 0.0)
        return grad * grad_loss[None, :, None], None, None, None, None, None


def reference_ctc_loss(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Lengths,
    target_lengths: Lengths,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """Drop-in for :func:`torch.nn.functional.ctc_loss` (padded targets only).

    ``reduction='mean'`` divides each loss by its target length (clamped to at
    least 1) and averages over the batch, ``'sum'`` adds the losses and
    ``'none'`` returns them, (N,).
    """
    losses = ReferenceCTCLoss.apply(
        log_probs, targets, input_lengths, target_lengths, blank, zero_infinity
    )
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        lengths = _as_lengths(target_lengths, losses.device).clamp_min(1)
        return (losses / lengths.to(losses.dtype)).mean()
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', not {reduction!r}")


# --------------------------------------------------------------------------
# Forced alignment (Viterbi on the same lattice)
# --------------------------------------------------------------------------


class ForcedAlignment(NamedTuple):
    """The most probable CTC path of each sample for its target."""

    state_path: Tensor  # (N, T) l' position per frame; -1 on padded frames
    label_path: Tensor  # (N, T) class per frame; -1 on padded frames
    log_score: Tensor  # (N,) sum_t ln y_t(label_path[t]); -inf if infeasible


def forced_align(
    log_probs: Tensor,
    targets: Tensor,
    input_lengths: Lengths,
    target_lengths: Lengths,
    blank: int = 0,
) -> ForcedAlignment:
    """Best single path through the lattice (max instead of sum, then backtrack).

    ``delta_t(s)`` is the score of the best prefix ending in position ``s``:
    the alpha recursion with ``max`` for ``+``.  Back-pointers record which
    predecessor (stay: 0, previous position: 1, skip: 2) won; the path is
    read backwards from the better of the two final positions at each
    sample's last frame.  On exact ties the chosen path (never its score)
    may differ from other implementations such as torchaudio's.
    Infeasible samples get ``log_score = -inf`` and paths of -1.
    """
    lattice = build_lattice(log_probs, targets, input_lengths, target_lengths, blank)
    log_delta, back_steps = _viterbi(lattice)
    final_state, log_score = _best_final_state(lattice, log_delta)
    state_path = _backtrack(lattice, back_steps, final_state)
    feasible = log_score > NEG_INF
    state_path = state_path.masked_fill(~feasible[:, None], -1)
    label_path = torch.where(
        state_path >= 0, lattice.extended_labels.gather(1, state_path.clamp_min(0)), -1
    )
    return ForcedAlignment(state_path, label_path, log_score)


def _viterbi(lattice: CTCLattice) -> tuple[Tensor, Tensor]:
    """(T, N, L) ln delta and (T, N, L) back-steps in {0, 1, 2}."""
    log_emissions = lattice.log_emissions
    skip_log_mask = _log_mask(lattice.skip_allowed)
    start_log_mask = _start_log_mask(lattice)
    log_delta = torch.empty_like(log_emissions)
    back_steps = torch.zeros(log_emissions.shape, dtype=torch.long, device=log_emissions.device)
    log_delta[0] = log_emissions[0] + start_log_mask
    for t in range(1, log_emissions.shape[0]):
        previous = log_delta[t - 1]
        candidates = torch.stack(
            (previous, _shift_right(previous, 1), _shift_right(previous, 2) + skip_log_mask)
        )  # (3, N, L)
        best, back_steps[t] = candidates.max(dim=0)
        log_delta[t] = log_emissions[t] + best
    return log_delta, back_steps


def _best_final_state(lattice: CTCLattice, log_delta: Tensor) -> tuple[Tensor, Tensor]:
    """(N,) final lattice position and (N,) best path score."""
    final_delta = _at_last_frame(lattice, log_delta) + _end_log_mask(lattice)
    log_score, final_state = final_delta.max(dim=1)
    no_frames = lattice.input_lengths == 0
    return final_state, torch.where(no_frames, _no_frames_log_p(lattice), log_score)


def _backtrack(lattice: CTCLattice, back_steps: Tensor, final_state: Tensor) -> Tensor:
    """(N, T) lattice positions of the best paths, -1 on padded frames."""
    num_frames, batch_size, _ = back_steps.shape
    state = final_state.clone()  # (N,) position at frame t
    state_path = torch.full(
        (batch_size, num_frames), -1, dtype=torch.long, device=back_steps.device
    )
    for t in reversed(range(num_frames)):
        valid = t < lattice.input_lengths  # (N,)
        state_path[:, t] = torch.where(valid, state, -1)
        step = back_steps[t].gather(1, state[:, None]).squeeze(1)
        state = torch.where(valid, state - step, state)
    return state_path


def character_spans(state_path: Tensor, target_length: int) -> list[tuple[int, int]]:
    """Frame spans ``(start, end_exclusive)`` of each target symbol, in order.

    Args:
        state_path: (T,) lattice positions of one sample, e.g.
            ``forced_align(...).state_path[n]`` (-1 on padded frames).
        target_length: number of labels of that sample's target.

    Label ``u`` lives at lattice position ``2u + 1``; a valid CTC path visits
    each such position on one run of consecutive frames, so its span is from
    the first to one past the last frame spent there.  Blank frames belong to
    no span.
    """
    frames = torch.arange(state_path.shape[0], device=state_path.device)
    on_label = (state_path > 0) & (state_path % 2 == 1)
    label_index = (state_path[on_label] - 1) // 2
    starts = torch.full((target_length,), state_path.shape[0], device=state_path.device)
    ends = torch.zeros(target_length, dtype=torch.long, device=state_path.device)
    starts = starts.scatter_reduce(0, label_index, frames[on_label], reduce="amin")
    ends = ends.scatter_reduce(0, label_index, frames[on_label] + 1, reduce="amax")
    return list(zip(starts.tolist(), ends.tolist()))


# --------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------


def _as_lengths(lengths: Lengths, device: torch.device) -> Tensor:
    return torch.as_tensor(lengths, dtype=torch.long, device=device).reshape(-1)


def _check_shapes(log_probs: Tensor, targets: Tensor) -> None:
    if log_probs.dim() != 3:
        raise ValueError(f"log_probs must be (T, N, C), got shape {tuple(log_probs.shape)}")
    if targets.dim() != 2 or targets.shape[0] != log_probs.shape[1]:
        raise ValueError(
            f"targets must be padded (N, S) with N = {log_probs.shape[1]}, "
            f"got shape {tuple(targets.shape)}"
        )


def _valid_frames(input_lengths: Tensor, num_frames: int) -> Tensor:
    """(T, N) bool, True for frames ``t < input_length``."""
    frames = torch.arange(num_frames, device=input_lengths.device)
    return frames[:, None] < input_lengths[None, :]


def _position_index(lattice: CTCLattice) -> Tensor:
    """(1, L) lattice position numbers 0..L-1."""
    num_positions = lattice.extended_labels.shape[1]
    return torch.arange(num_positions, device=lattice.extended_labels.device)[None, :]


def _start_log_mask(lattice: CTCLattice) -> Tensor:
    """(1, L) log mask of the start positions 0 (blank) and 1 (first label)."""
    return _log_mask(_position_index(lattice) < 2)


def _end_log_mask(lattice: CTCLattice) -> Tensor:
    """(N, L) log mask of the end positions 2U (blank) and 2U - 1 (last label)."""
    last_position = 2 * lattice.target_lengths[:, None]
    return _log_mask(_position_index(lattice) >= last_position - 1)


def _at_last_frame(lattice: CTCLattice, per_frame: Tensor) -> Tensor:
    """(T, N, L) -> (N, L) values at each sample's last frame T_n - 1."""
    last_frame = (lattice.input_lengths - 1).clamp_min(0)
    batch = torch.arange(per_frame.shape[1], device=per_frame.device)
    return per_frame[last_frame, batch]


def _no_frames_log_p(lattice: CTCLattice) -> Tensor:
    """(N,) ln p(l|x) when T_n = 0: only the empty target has a (single, empty) path."""
    return _log_mask(lattice.target_lengths == 0).to(lattice.log_emissions.dtype)


def _log_mask(allowed: Tensor) -> Tensor:
    """Bool mask -> additive log-space mask: 0 where allowed, -inf elsewhere."""
    return torch.zeros(allowed.shape, device=allowed.device).masked_fill(~allowed, NEG_INF)


def _shift_right(values: Tensor, steps: int, fill: float = NEG_INF) -> Tensor:
    """(N, L) -> (N, L) with ``out[:, s] = values[:, s - steps]`` (``fill`` below 0)."""
    padded = torch.nn.functional.pad(values, (steps, 0), value=fill)
    return padded[:, : values.shape[1]]


def _shift_left(values: Tensor, steps: int, fill: float = NEG_INF) -> Tensor:
    """(N, L) -> (N, L) with ``out[:, s] = values[:, s + steps]`` (``fill`` past L)."""
    padded = torch.nn.functional.pad(values, (0, steps), value=fill)
    return padded[:, steps:]


def _log_add(first: Tensor, *more: Tensor) -> Tensor:
    """ln(sum_i exp(term_i)) element-wise; all ``-inf`` gives ``-inf``, not NaN.

    Chained :func:`torch.logaddexp` is one fused kernel per term, several
    times faster here than ``torch.logsumexp`` over a stacked tensor.
    """
    total = first
    for term in more:
        total = torch.logaddexp(total, term)
    return total


def _zero_infinite(losses: Tensor) -> Tensor:
    return torch.where(torch.isinf(losses), torch.zeros_like(losses), losses)

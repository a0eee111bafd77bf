"""Tests for recog.ctc.lattice: exact values, brute force, torch and torchaudio."""

from __future__ import annotations

import itertools
import math
from functools import lru_cache

import pytest
import torch
import torch.nn.functional as F

from recog.ctc.lattice import (
    backward_log_beta,
    build_lattice,
    character_spans,
    class_posteriors,
    ctc_negative_log_likelihood,
    extend_with_blanks,
    forced_align,
    forward_log_alpha,
    frame_log_likelihoods,
    reference_ctc_loss,
    state_posteriors,
)

try:
    from torchaudio.functional import forced_align as torchaudio_forced_align
except (ImportError, AttributeError):  # removed in some torchaudio releases
    torchaudio_forced_align = None

BLANK = 0
A, B, C_ = 1, 2, 3  # alphabet {blank=0, a=1, b=2, c=3}
DOUBLE = torch.float64


# --------------------------------------------------------------------------
# Helpers: brute force over all C^T paths, random batches
# --------------------------------------------------------------------------


def collapse(path, blank=BLANK):
    """The CTC map B: merge repeated symbols, then remove blanks."""
    merged = [symbol for i, symbol in enumerate(path) if i == 0 or symbol != path[i - 1]]
    return tuple(symbol for symbol in merged if symbol != blank)


@lru_cache(maxsize=None)
def all_paths(num_frames, num_classes):
    """(C^T, T) every frame-level path, and the labelling each collapses to."""
    paths = list(itertools.product(range(num_classes), repeat=num_frames))
    return torch.tensor(paths, dtype=torch.long), [collapse(p) for p in paths]


def brute_force_path_scores(log_probs, target):
    """ln prob of every path pi with B(pi) = target; log_probs is (T, C)."""
    paths, labellings = all_paths(*log_probs.shape)
    keep = torch.tensor([labelling == tuple(target) for labelling in labellings])
    frames = torch.arange(log_probs.shape[0])
    return log_probs[frames, paths[keep]].sum(dim=1)


def brute_force_log_p(log_probs, target):
    return torch.logsumexp(brute_force_path_scores(log_probs, target), dim=0)


def random_log_probs(num_frames, batch_size, num_classes, generator, dtype=DOUBLE):
    logits = torch.randn(num_frames, batch_size, num_classes, generator=generator, dtype=dtype)
    return (3 * logits).log_softmax(dim=-1)


def min_frames(target):
    """Fewest frames a CTC path for ``target`` needs: |l| + adjacent repeats."""
    repeats = sum(1 for x, y in zip(target, target[1:]) if x == y)
    return len(target) + repeats


def random_target(length, num_classes, blank, generator):
    """A label sequence avoiding ``blank``, with deliberately frequent repeats."""
    labels = [c for c in range(num_classes) if c != blank]
    target = []
    for _ in range(length):
        repeat = target and torch.rand(1, generator=generator).item() < 0.3
        pick = torch.randint(len(labels), (1,), generator=generator).item()
        target.append(target[-1] if repeat else labels[pick])
    return target


def random_batch(seed, feasible=True):
    """A padded batch in torch's ctc_loss format with odd cases mixed in.

    Inputs are padded with garbage (not log-probabilities) beyond each input
    length and targets with garbage beyond each target length, so padding
    that leaks into the computation shows up.
    """
    generator = torch.Generator().manual_seed(seed)
    batch_size = int(torch.randint(1, 6, (1,), generator=generator))
    num_classes = int(torch.randint(2, 9, (1,), generator=generator))
    blank = 0 if seed % 3 else num_classes - 1
    max_target_length = int(torch.randint(0, 7, (1,), generator=generator))
    target_lengths = torch.randint(0, max_target_length + 1, (batch_size,), generator=generator)
    target_lengths[0] = max_target_length
    if batch_size > 1:
        target_lengths[1] = 0  # always an empty target in the batch
    targets_list = [random_target(int(n), num_classes, blank, generator) for n in target_lengths]
    needed = [min_frames(t) for t in targets_list]
    num_frames = max(needed) + int(torch.randint(1, 8, (1,), generator=generator))
    input_lengths = torch.tensor(
        [int(torch.randint(max(n, 1), num_frames + 1, (1,), generator=generator)) for n in needed]
    )
    input_lengths[-1] = max(needed[-1], 1)  # a minimal feasible length
    if not feasible:  # one frame short (no frames at all for an empty target)
        input_lengths[0] = max(needed[0] - 1, 0)
    targets = torch.randint(-5, 50, (batch_size, max_target_length), generator=generator)
    for n, target in enumerate(targets_list):
        targets[n, : len(target)] = torch.tensor(target, dtype=torch.long)
    log_probs = random_log_probs(num_frames, batch_size, num_classes, generator)
    frames = torch.arange(num_frames)[:, None]
    padded_frames = (frames >= input_lengths[None, :])[..., None]
    garbage = 10 * torch.randn(log_probs.shape, generator=generator, dtype=DOUBLE)
    log_probs = torch.where(padded_frames, garbage, log_probs)
    return log_probs, targets, input_lengths, target_lengths, blank


def value_and_grad(loss_fn, log_probs, *args, **kwargs):
    log_probs = log_probs.detach().clone().requires_grad_()
    loss = loss_fn(log_probs, *args, **kwargs)
    (grad,) = torch.autograd.grad(loss.sum(), log_probs)
    return loss.detach(), grad


def close(actual, expected, **kwargs):
    torch.testing.assert_close(actual, expected, rtol=1e-6, atol=1e-9, **kwargs)


# --------------------------------------------------------------------------
# Hand-checked values
# --------------------------------------------------------------------------


def uniform_log_probs(num_frames, num_classes=4):
    return torch.full((num_frames, 1, num_classes), math.log(1 / num_classes), dtype=DOUBLE)


def test_extend_with_blanks_inserts_blanks_and_masks_padding():
    targets = torch.tensor([[1, 1, 2], [3, 7, 7]])
    extended, valid = extend_with_blanks(targets, torch.tensor([3, 1]), blank=0)
    assert extended.tolist() == [[0, 1, 0, 1, 0, 2, 0], [0, 3, 0, 0, 0, 0, 0]]
    assert valid.sum(dim=1).tolist() == [7, 3]


def test_aab_with_three_frames_is_infeasible():
    target = torch.tensor([[A, A, B]])
    args = (uniform_log_probs(3), target, [3], [3])
    assert ctc_negative_log_likelihood(*args).item() == math.inf
    assert ctc_negative_log_likelihood(*args, zero_infinity=True).item() == 0.0
    assert reference_ctc_loss(*args, zero_infinity=True).item() == 0.0


def test_aab_with_four_frames_has_exactly_one_path():
    target = torch.tensor([[A, A, B]])
    log_probs = uniform_log_probs(4)
    loss = ctc_negative_log_likelihood(log_probs, target, [4], [3])
    assert loss.item() == pytest.approx(math.log(256), abs=1e-12)
    assert loss.item() == pytest.approx(5.545177, abs=1e-6)
    alignment = forced_align(log_probs, target, [4], [3])
    assert alignment.label_path[0].tolist() == [A, BLANK, A, B]
    assert alignment.state_path[0].tolist() == [1, 2, 3, 5]


def test_empty_target_is_the_all_blank_path():
    log_probs = random_log_probs(5, 1, 4, torch.Generator().manual_seed(0))
    loss = ctc_negative_log_likelihood(log_probs, torch.zeros(1, 0, dtype=torch.long), [5], [0])
    close(loss, -log_probs[:, 0, BLANK].sum(dim=0, keepdim=True))


# --------------------------------------------------------------------------
# Brute force over all paths
# --------------------------------------------------------------------------

BRUTE_FORCE_TARGETS = [
    [],
    [A],
    [A, A],
    [A, B],
    [B, A, C_],
    [C_, C_, C_],
    [A, B, B, A],
    [A, B, B, C_, A],  # "apple": a p p l e
]


@pytest.mark.parametrize("target", BRUTE_FORCE_TARGETS, ids=str)
@pytest.mark.parametrize("num_frames", [1, 3, 6])
def test_likelihood_matches_brute_force(target, num_frames):
    log_probs = random_log_probs(num_frames, 1, 4, torch.Generator().manual_seed(num_frames))
    targets = torch.tensor([target], dtype=torch.long).reshape(1, len(target))
    negative_log_likelihood = ctc_negative_log_likelihood(
        log_probs, targets, [num_frames], [len(target)]
    )
    expected = -brute_force_log_p(log_probs[:, 0], target)
    close(negative_log_likelihood, expected.reshape(1))
    assert math.isinf(expected) == (num_frames < min_frames(target))


@pytest.mark.parametrize("target", BRUTE_FORCE_TARGETS, ids=str)
def test_forced_alignment_score_is_brute_force_maximum(target):
    num_frames = 6
    log_probs = random_log_probs(num_frames, 1, 4, torch.Generator().manual_seed(len(target)))
    targets = torch.tensor([target], dtype=torch.long).reshape(1, len(target))
    alignment = forced_align(log_probs, targets, [num_frames], [len(target)])
    best = brute_force_path_scores(log_probs[:, 0], target).max()
    close(alignment.log_score[0], best)
    assert_valid_alignment(alignment, 0, log_probs, target, num_frames)


# --------------------------------------------------------------------------
# Agreement with torch.nn.functional.ctc_loss
# --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_values_and_gradients_match_torch(seed, reduction):
    log_probs, targets, input_lengths, target_lengths, blank = random_batch(seed)
    args = (targets, input_lengths, target_lengths, blank, reduction)
    ours, our_grad = value_and_grad(reference_ctc_loss, log_probs, *args)
    theirs, their_grad = value_and_grad(F.ctc_loss, log_probs, *args)
    close(ours, theirs)
    close(our_grad, their_grad)
    padded_frames = torch.arange(log_probs.shape[0])[:, None] >= input_lengths[None, :]
    assert (our_grad[padded_frames] == 0).all()


@pytest.mark.parametrize("seed", range(8))
def test_gradients_through_log_softmax_match_torch(seed):
    log_probs, targets, input_lengths, target_lengths, blank = random_batch(seed)
    logits = log_probs.detach().clone()  # any real numbers will do as logits

    def through_log_softmax(loss_fn):
        return lambda x, *args: loss_fn(x.log_softmax(dim=-1), *args)

    args = (targets, input_lengths, target_lengths, blank)
    ours, our_grad = value_and_grad(through_log_softmax(reference_ctc_loss), logits, *args)
    theirs, their_grad = value_and_grad(through_log_softmax(F.ctc_loss), logits, *args)
    close(ours, theirs)
    close(our_grad, their_grad)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_infeasible_samples_match_torch(seed, reduction):
    log_probs, targets, input_lengths, target_lengths, blank = random_batch(seed, feasible=False)
    args = (targets, input_lengths, target_lengths, blank, reduction)
    for zero_infinity in (False, True):
        ours, our_grad = value_and_grad(reference_ctc_loss, log_probs, *args, zero_infinity)
        theirs, their_grad = value_and_grad(F.ctc_loss, log_probs, *args, zero_infinity)
        close(ours, theirs)
        close(our_grad, their_grad, equal_nan=True)


@pytest.mark.parametrize("target_length", [0, 2])
def test_samples_without_frames_match_torch(target_length):
    log_probs = random_log_probs(4, 2, 4, torch.Generator().manual_seed(2))
    targets = torch.tensor([[A, B], [B, B]])
    args = (targets, [0, 4], [target_length, 2], BLANK, "none")
    ours, our_grad = value_and_grad(reference_ctc_loss, log_probs, *args)
    theirs, their_grad = value_and_grad(F.ctc_loss, log_probs, *args)
    close(ours, theirs)
    close(our_grad, their_grad)
    assert ours[0].item() == (0.0 if target_length == 0 else math.inf)


def test_zero_infinity_gives_zero_gradient_to_infeasible_samples():
    log_probs = random_log_probs(3, 2, 4, torch.Generator().manual_seed(1))
    targets = torch.tensor([[A, A, B], [A, B, 0]])
    _, grad = value_and_grad(
        reference_ctc_loss, log_probs, targets, [3, 3], [3, 2], BLANK, "sum", True
    )
    assert (grad[:, 0] == 0).all()
    assert (grad[:, 1] != 0).any()


# --------------------------------------------------------------------------
# Posteriors and the forward-backward identity
# --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_class_posteriors_sum_to_one_on_valid_frames(seed):
    log_probs, targets, input_lengths, target_lengths, blank = random_batch(seed)
    gamma = class_posteriors(log_probs, targets, input_lengths, target_lengths, blank)
    valid_frames = torch.arange(log_probs.shape[0])[:, None] < input_lengths[None, :]
    close(gamma.sum(dim=2)[valid_frames], torch.ones(int(valid_frames.sum()), dtype=DOUBLE))
    assert (gamma[~valid_frames] == 0).all()
    state_gamma = state_posteriors(log_probs, targets, input_lengths, target_lengths, blank)
    close(state_gamma.sum(dim=2), gamma.sum(dim=2))


@pytest.mark.parametrize("seed", range(6))
def test_alpha_beta_identity_holds_at_every_frame(seed):
    log_probs, targets, input_lengths, target_lengths, blank = random_batch(seed)
    args = (log_probs, targets, input_lengths, target_lengths, blank)
    per_frame = frame_log_likelihoods(*args)  # (T, N)
    log_likelihood = -ctc_negative_log_likelihood(*args)
    for n, length in enumerate(input_lengths.tolist()):
        close(per_frame[:length, n], log_likelihood[n].expand(length))
        assert (per_frame[length:, n] == -math.inf).all()


def test_alpha_and_beta_are_zero_on_padding():
    log_probs, targets, input_lengths, target_lengths, blank = random_batch(3)
    args = (log_probs, targets, input_lengths, target_lengths, blank)
    lattice = build_lattice(*args)
    padding = ~lattice.valid_frames[..., None] | ~lattice.valid_positions[None]
    for log_values in (forward_log_alpha(*args), backward_log_beta(*args)):
        assert (log_values[padding] == -math.inf).all()
        assert not log_values.isnan().any()


# --------------------------------------------------------------------------
# Forced alignment
# --------------------------------------------------------------------------


def assert_valid_alignment(alignment, n, log_probs, target, input_length, blank=BLANK):
    """The path of sample n is a CTC path for target and its score is right."""
    states = alignment.state_path[n].tolist()
    labels = alignment.label_path[n].tolist()
    assert states[input_length:] == [-1] * (len(states) - input_length)
    states, labels = states[:input_length], labels[:input_length]
    assert collapse(labels, blank) == tuple(target)
    extended = [blank] + [x for label in target for x in (label, blank)]
    assert labels == [extended[s] for s in states]
    assert states[0] in (0, 1) and states[-1] >= len(extended) - 2
    for previous, current in zip(states, states[1:]):
        assert current - previous in (0, 1, 2)
    path_score = log_probs[torch.arange(input_length), n, labels].sum()
    close(alignment.log_score[n], path_score)

    spans = character_spans(alignment.state_path[n], len(target))
    assert len(spans) == len(target)
    for (start, end), (next_start, _) in zip(spans, spans[1:]):
        assert end <= next_start
    for (start, end), label in zip(spans, target):
        assert 0 <= start < end <= input_length
        assert all(x == label for x in labels[start:end])


@pytest.mark.parametrize("seed", range(6))
def test_forced_alignment_paths_are_valid_on_padded_batches(seed):
    log_probs, targets, input_lengths, target_lengths, blank = random_batch(seed)
    alignment = forced_align(log_probs, targets, input_lengths, target_lengths, blank)
    for n, (input_length, target_length) in enumerate(zip(input_lengths, target_lengths)):
        target = targets[n, :target_length].tolist()
        assert_valid_alignment(alignment, n, log_probs, target, int(input_length), blank)


def test_forced_alignment_of_infeasible_target_is_marked():
    alignment = forced_align(uniform_log_probs(3), torch.tensor([[A, A, B]]), [3], [3])
    assert alignment.log_score.item() == -math.inf
    assert (alignment.state_path == -1).all() and (alignment.label_path == -1).all()


@pytest.mark.skipif(
    torchaudio_forced_align is None,
    reason="torchaudio.functional.forced_align is not available in this torchaudio",
)
@pytest.mark.parametrize("seed", range(20))
def test_forced_alignment_score_matches_torchaudio(seed):
    generator = torch.Generator().manual_seed(seed)
    num_classes = int(torch.randint(2, 8, (1,), generator=generator))
    target_length = int(torch.randint(1, 9, (1,), generator=generator))
    target = random_target(target_length, num_classes, BLANK, generator)
    num_frames = min_frames(target) + int(torch.randint(0, 20, (1,), generator=generator))
    log_probs = random_log_probs(num_frames, 1, num_classes, generator)
    targets = torch.tensor([target], dtype=torch.long)

    alignment = forced_align(log_probs, targets, [num_frames], [len(target)])
    their_labels, their_frame_scores = torchaudio_forced_align(
        log_probs.transpose(0, 1), targets.int(), torch.tensor([num_frames]),
        torch.tensor([len(target)]), 0,
    )
    close(alignment.log_score[0], their_frame_scores.sum())
    assert collapse(their_labels[0].tolist()) == tuple(target)
    assert_valid_alignment(alignment, 0, log_probs, target, num_frames)


# --------------------------------------------------------------------------
# Training with the reference loss
# --------------------------------------------------------------------------


def toy_sequence_problem(generator, batch_size=16, num_frames=20, num_classes=5, dim=8):
    """Frames whose features reveal their class; targets collapse the frame classes."""
    frame_classes = torch.randint(0, num_classes, (num_frames, batch_size), generator=generator)
    class_embeddings = torch.randn(num_classes, dim, generator=generator, dtype=DOUBLE)
    noise = 0.3 * torch.randn(num_frames, batch_size, dim, generator=generator, dtype=DOUBLE)
    features = class_embeddings[frame_classes] + noise  # (T, N, D)
    labellings = [collapse(frame_classes[:, n].tolist()) for n in range(batch_size)]
    target_lengths = torch.tensor([len(labelling) for labelling in labellings])
    targets = torch.zeros(batch_size, int(target_lengths.max()), dtype=torch.long)
    for n, labelling in enumerate(labellings):
        targets[n, : len(labelling)] = torch.tensor(labelling, dtype=torch.long)
    input_lengths = torch.full((batch_size,), num_frames)
    return features, targets, input_lengths, target_lengths


def train_linear_model(loss_fn, steps=50):
    generator = torch.Generator().manual_seed(0)
    features, targets, input_lengths, target_lengths = toy_sequence_problem(generator)
    model = torch.nn.Linear(features.shape[2], 5, dtype=DOUBLE)
    with torch.no_grad():
        model.weight.copy_(0.1 * torch.randn(model.weight.shape, generator=generator, dtype=DOUBLE))
        model.bias.zero_()
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(steps):
        optimiser.zero_grad()
        log_probs = model(features).log_softmax(dim=-1)
        loss = loss_fn(log_probs, targets, input_lengths, target_lengths)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return losses


def test_training_with_reference_loss_decreases_loss_like_torch():
    ours = train_linear_model(reference_ctc_loss)
    theirs = train_linear_model(F.ctc_loss)
    assert ours[-1] < 0.5 * ours[0]
    assert ours[-1] == pytest.approx(theirs[-1], rel=1e-6)

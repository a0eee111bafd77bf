import math

import pytest
import torch

from recog.ctc.loss import count_adjacent_repeats, ctc_loss, feasible, log_softmax_float32, min_frames_needed
from recog.errors import ConfigError


def uniform_log_probs(frames: int, classes: int = 4) -> torch.Tensor:
    return torch.full((frames, 1, classes), math.log(1 / classes))


def test_b01_aab_needs_four_frames():
    targets = torch.tensor([[1, 1, 2]])  # "aab" over {blank=0, a=1, b=2, c=3}
    target_lengths = torch.tensor([3])
    assert min_frames_needed(targets, target_lengths).tolist() == [4]
    assert feasible(torch.tensor([3]), targets, target_lengths).tolist() == [False]

    three = ctc_loss(uniform_log_probs(3), targets, torch.tensor([3]), target_lengths)
    assert (three.num_feasible, three.num_infeasible) == (0, 1)
    assert three.loss.item() == 0.0 and torch.isfinite(three.loss)

    four = ctc_loss(uniform_log_probs(4), targets, torch.tensor([4]), target_lengths)
    assert (four.num_feasible, four.num_infeasible) == (1, 0)
    # exactly one path, a _ a b: p = (1/4)^4, -ln p = ln 256 = 5.545177; the loss is per character
    assert four.loss.item() * 3 == pytest.approx(5.545177, abs=1e-5)


def test_b01_infeasible_sample_never_makes_nan_gradients():
    log_probs = uniform_log_probs(4).repeat(1, 2, 1).requires_grad_()
    targets = torch.tensor([[1, 1, 2], [1, 2, 3]])
    result = ctc_loss(log_probs, targets, torch.tensor([3, 4]), torch.tensor([3, 3]))
    result.loss.backward()
    assert result.num_infeasible == 1
    assert torch.isfinite(log_probs.grad).all()
    assert log_probs.grad[:, 0].abs().sum() == 0  # the infeasible sample contributes nothing


def test_repeats_are_counted_inside_each_target_only():
    targets = torch.tensor([[1, 1, 1, 0], [2, 3, 3, 3]])  # row 0 padded with 0 after length 3
    assert count_adjacent_repeats(targets, torch.tensor([3, 4])).tolist() == [2, 2]
    assert count_adjacent_repeats(targets, torch.tensor([0, 2])).tolist() == [0, 0]


def b03_logits() -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.arange(400, dtype=torch.float64).view(400, 1, 1)
    c = torch.arange(30, dtype=torch.float64).view(1, 1, 30)
    logits = 6 * torch.sin(0.7 * t + 1.3 * c + 0.01 * t * c)  # (T=400, N=1, C=30)
    targets = torch.tensor([[1 + (7 * s) % 29 for s in range(120)]])
    return logits, targets


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_b03_low_precision_logits_give_the_float32_loss(dtype):
    logits, targets = b03_logits()
    log_probs = log_softmax_float32(logits.to(dtype))
    assert log_probs.dtype == torch.float32
    total = torch.nn.functional.ctc_loss(log_probs, targets, torch.tensor([400]), torch.tensor([120]),
                                         reduction="sum")
    assert total.item() == pytest.approx(1291.4948, rel=1e-3)
    mean = ctc_loss(log_probs, targets, torch.tensor([400]), torch.tensor([120])).loss
    assert mean.item() == pytest.approx(10.762456, rel=1e-3)


def test_b03_loss_accepts_half_log_probs_directly():
    logits, targets = b03_logits()
    half_log_probs = torch.log_softmax(logits, -1).to(torch.bfloat16)
    result = ctc_loss(half_log_probs, targets, torch.tensor([400]), torch.tensor([120]))
    assert result.loss.dtype == torch.float32
    assert result.loss.item() == pytest.approx(10.762456, rel=1e-2)


def test_reference_implementation_trains_like_the_native_one():
    """model.loss=reference: the same batch loss, infeasible count and gradients as torch's kernel."""
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(30, 4, 6, generator=generator, dtype=torch.float64)
    targets = torch.tensor([[1, 1, 2, 3], [2, 3, 0, 0], [4, 4, 4, 4], [5, 0, 0, 0]])
    input_lengths, target_lengths = torch.tensor([30, 21, 6, 9]), torch.tensor([4, 2, 4, 1])  # sample 2 infeasible
    results, gradients = {}, {}
    for implementation in ("native", "reference"):
        leaf = logits.clone().requires_grad_()
        results[implementation] = ctc_loss(torch.log_softmax(leaf, -1), targets, input_lengths, target_lengths,
                                           implementation=implementation)
        results[implementation].loss.backward()
        gradients[implementation] = leaf.grad
    assert results["native"].num_infeasible == results["reference"].num_infeasible == 1
    assert torch.allclose(results["native"].loss.double(), results["reference"].loss.double(), rtol=1e-6)
    assert torch.allclose(gradients["native"], gradients["reference"], rtol=1e-4, atol=1e-6)  # float32 inside


def test_unknown_implementation_is_a_config_error():
    with pytest.raises(ConfigError, match="model.loss must be one of"):
        ctc_loss(torch.zeros(3, 1, 4), torch.tensor([[1]]), torch.tensor([3]), torch.tensor([1]),
                 implementation="cudnn")

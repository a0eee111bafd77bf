import pytest
import torch
from torch import nn

from recog.frontend import ConvFrontEnd, stack_output_length, stack_stride
from recog.model import CTCRecognizer


def test_b05_two_stride_two_convs():
    layers = [nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3, stride=2)]
    lengths = stack_output_length(layers, torch.tensor([1000, 587]))
    assert lengths.tolist() == [249, 146]
    for length in (1000, 587):
        output = nn.Sequential(*layers)(torch.zeros(1, 1, 8, length))
        assert output.size(-1) == stack_output_length(layers, torch.tensor(length)).item()


@pytest.mark.parametrize("pools", [[[2, 2], [2, 2], [2, 1], [2, 1]], [[2, 2], [2, 2], [2, 2], [1, 1]],
                                   [[2, 3], [2, 2], [1, 1], [2, 1]]])
def test_reported_lengths_equal_real_sizes_at_every_length(pools):
    frontend = ConvFrontEnd(input_height=32, channels=[2, 2, 2, 2], pools=pools).eval()
    for width in range(frontend.min_input_length, 60):
        features, lengths = frontend(torch.rand(1, 1, 32, width), torch.tensor([width]))
        assert features.size(1) == lengths.item() == frontend.output_lengths(torch.tensor(width)).item(), width


@pytest.mark.parametrize("pools, stride", [([[2, 2], [2, 2], [2, 1], [2, 1]], 4),
                                           ([[2, 3], [2, 2], [1, 1], [2, 1]], 6), ([[2, 1], [2, 1]], 1)])
def test_width_stride_is_input_columns_per_output_frame(pools, stride):
    frontend = ConvFrontEnd(input_height=32, channels=[2] * len(pools), pools=pools)
    assert frontend.width_stride == stride
    widths = torch.arange(frontend.min_input_length, 200)
    assert (frontend.output_lengths(widths + stride) - frontend.output_lengths(widths) == 1).all()
    assert stack_stride([nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3, stride=(1, 3))]) == 6


def test_too_short_inputs_are_rejected_with_the_minimum():
    frontend = ConvFrontEnd(input_height=32)
    assert frontend.min_input_length == 4  # two width pools of 2
    assert frontend.output_lengths(torch.tensor(3)).item() == 0
    with pytest.raises(ValueError, match="at least 4 columns"):
        frontend(torch.rand(1, 1, 32, 3), torch.tensor([3]))


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_padding_never_changes_a_sample_output(cell):
    torch.manual_seed(0)
    model = CTCRecognizer(num_classes=12, input_height=32, cell=cell, hidden_size=16).eval()
    widths = torch.tensor([97, 40, 6, 64])
    batch = torch.zeros(4, 1, 32, 97)
    for row, width in enumerate(widths):
        batch[row, :, :, :width] = torch.rand(1, 32, width)
    with torch.no_grad():
        log_probs, lengths = model(batch, widths)
        assert lengths.tolist() == [24, 10, 1, 16]
        for row, width in enumerate(widths):
            alone, alone_lengths = model(batch[row : row + 1, :, :, :width], widths[row : row + 1])
            assert alone_lengths.item() == lengths[row].item()
            torch.testing.assert_close(alone[:, 0], log_probs[: lengths[row], row], rtol=1e-5, atol=1e-5)


def test_output_is_log_softmax_over_alphabet_plus_blank():
    model = CTCRecognizer(num_classes=7, input_height=16, pools=[[2, 2], [2, 2]], channels=[4, 4]).eval()
    log_probs, _ = model(torch.rand(2, 1, 16, 20), torch.tensor([20, 12]))
    assert log_probs.shape == (5, 2, 7)
    torch.testing.assert_close(log_probs.exp().sum(-1), torch.ones(5, 2))


def test_resize_classes_keeps_trained_rows():
    model = CTCRecognizer(num_classes=5, input_height=16, pools=[[2, 2], [2, 2]], channels=[4, 4])
    old_weight = model.classifier.weight.detach().clone()
    model.resize_classes(8)
    assert model.classifier.out_features == 8
    torch.testing.assert_close(model.classifier.weight[:5], old_weight)

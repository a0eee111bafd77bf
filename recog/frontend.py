"""Conv front end: 2-D convolutions over an image (N, 1, H, W) or a spectrogram (N, 1, F, T).

The last axis is the sequence axis (image width, or time). The front end returns one feature vector per
output step, with the other axis (height, or frequency) folded into the channels: (N, W', C * H').

Two properties the rest of the system relies on:
- Exact lengths (case B05). Output lengths are computed from each layer's kernel, stride, padding and
  dilation with the same floor arithmetic torch uses, for every conv and pool layer in order, so CTC never
  reads a frame that does not exist and never ignores one that does.
- Padding never changes a sample's output. After every block, columns at or beyond a sample's true length
  are set to zero, which is exactly what the next convolution's own zero padding shows the sample when it
  is run alone. With the recurrent encoder's packed sequences this makes batched and one-by-one
  inference identical.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from recog.errors import ConfigError

LENGTH_LAYERS = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


def _axis_value(value, axis: int):
    return value[axis] if isinstance(value, (tuple, list)) else value


def layer_output_length(layer: nn.Module, lengths: torch.Tensor, axis: int) -> torch.Tensor:
    """Output size along `axis` (0 = height, 1 = width) of one conv or pool layer, as torch computes it."""
    if getattr(layer, "ceil_mode", False):
        raise ValueError(f"{layer} uses ceil_mode; the length arithmetic assumes floor mode")
    kernel = _axis_value(layer.kernel_size, axis)
    stride = _axis_value(layer.stride, axis)
    padding = _axis_value(layer.padding, axis)
    dilation = _axis_value(getattr(layer, "dilation", 1), axis)
    return torch.div(lengths + 2 * padding - dilation * (kernel - 1) - 1, stride, rounding_mode="floor") + 1


def stack_output_length(layers: Sequence[nn.Module], lengths: torch.Tensor, axis: int = 1) -> torch.Tensor:
    """Output size after every conv and pool layer in `layers` (in order); other layers keep the size."""
    for layer in layers:
        if isinstance(layer, LENGTH_LAYERS):
            lengths = layer_output_length(layer, lengths, axis)
    return lengths


def stack_stride(layers: Sequence[nn.Module], axis: int = 1) -> int:
    """Product of the strides along `axis` of every conv and pool layer: input steps per output step."""
    stride = 1
    for layer in layers:
        if isinstance(layer, LENGTH_LAYERS):
            stride *= _axis_value(layer.stride, axis)
    return stride


def zero_beyond_lengths(features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero the columns t >= lengths[n] of features (N, C, H, W)."""
    positions = torch.arange(features.size(-1), device=features.device)
    inside = positions.unsqueeze(0) < lengths.to(features.device).unsqueeze(1)  # (N, W)
    return features * inside[:, None, None, :].to(features.dtype)


def check_inputs(inputs: torch.Tensor, input_lengths: torch.Tensor, input_height: int, min_input_length: int) -> None:
    """A front end built for `input_height` rows can read inputs (N, 1, H, W) with lengths (N,)."""
    if inputs.size(-2) != input_height:
        raise ConfigError(f"input height is {inputs.size(-2)}, this front end was built for {input_height}")
    too_short = input_lengths < min_input_length
    if too_short.any():
        raise ConfigError(
            f"input length {int(input_lengths[too_short][0])} is too short: the front end needs at least "
            f"{min_input_length} columns to produce one frame; pad the input to that width"
        )


class ConvFrontEnd(nn.Module):
    """Blocks of conv 3x3 -> batch norm -> ReLU -> max-pool; pools give the subsampling per axis.

    `pools` lists one (height, width) pooling factor per block, e.g. [[2,2],[2,2],[2,1],[2,1]]: height
    divided by 16, width by 4.
    """

    def __init__(
        self,
        input_height: int,
        channels: Sequence[int] = (16, 32, 48, 64),
        pools: Sequence[Sequence[int]] = ((2, 2), (2, 2), (2, 1), (2, 1)),
        kernel_size: int = 3,
    ):
        super().__init__()
        if len(channels) != len(pools):
            raise ConfigError(f"model.channels has {len(channels)} entries but model.pools has {len(pools)}: "
                              "give one pool per conv block")
        self.blocks = nn.ModuleList()
        in_channels = 1
        for out_channels, pool in zip(channels, pools):
            layers = [
                nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
                nn.BatchNorm2d(out_channels),
                nn.ReLU(inplace=True),
            ]
            if tuple(pool) != (1, 1):
                layers.append(nn.MaxPool2d(tuple(pool)))
            self.blocks.append(nn.Sequential(*layers))
            in_channels = out_channels
        self.input_height = input_height
        output_height = int(stack_output_length(self.layers(), torch.tensor(input_height), axis=0))
        if output_height < 1:
            needed = next(h for h in range(1, 10_000)
                          if stack_output_length(self.layers(), torch.tensor(h), axis=0) >= 1)
            raise ConfigError(f"an input height of {input_height} (data.height, or the number of mel bands) is too "
                              f"small for model.pools={[list(p) for p in pools]}: it must be at least {needed}")
        self.output_size = in_channels * output_height
        self.min_input_length = self._min_input_length()

    def layers(self) -> list[nn.Module]:
        return [layer for block in self.blocks for layer in block]

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        return stack_output_length(self.layers(), input_lengths, axis=1)

    @property
    def width_stride(self) -> int:
        """Input columns per output frame: output frame f covers input columns [f * stride, (f + 1) * stride)."""
        return stack_stride(self.layers(), axis=1)

    def _min_input_length(self) -> int:
        """The shortest input that yields at least one output frame."""
        length = 1
        while int(self.output_lengths(torch.tensor(length))) < 1:
            length += 1
        return length

    def forward(self, inputs: torch.Tensor, input_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (N, 1, H, W), input_lengths (N,) -> features (N, W', C * H'), output_lengths (N,).

        The input checks are left out of a trace (a traced graph cannot raise, and would freeze the branch);
        an exported model's backend runs the same checks before each call (recog/exported.py).
        """
        if not torch.jit.is_tracing():
            check_inputs(inputs, input_lengths, self.input_height, self.min_input_length)
        lengths = input_lengths
        features = zero_beyond_lengths(inputs, lengths)
        for block in self.blocks:
            lengths = stack_output_length(block, lengths, axis=1)
            features = zero_beyond_lengths(block(features), lengths)
        batch, channels, height, width = features.shape
        return features.reshape(batch, channels * height, width).transpose(1, 2), lengths

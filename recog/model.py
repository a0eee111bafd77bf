"""The recognizer: conv front end -> bidirectional RNN -> linear to |L|+1 classes -> log-softmax."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from recog.ctc.loss import log_softmax_float32
from recog.encoder import RecurrentEncoder
from recog.frontend import ConvFrontEnd


class CTCRecognizer(nn.Module):
    """Maps inputs (N, 1, H, W) with true widths (N,) to CTC log-probabilities (T, N, C) in float32.

    H is the normalised image height or the number of mel bands; W the image width or number of audio
    frames. C = |L| + 1, class 0 being the blank.
    """

    def __init__(
        self,
        num_classes: int,
        input_height: int,
        channels: Sequence[int] = (16, 32, 48, 64),
        pools: Sequence[Sequence[int]] = ((2, 2), (2, 2), (2, 1), (2, 1)),
        kernel_size: int = 3,
        cell: str = "lstm",
        hidden_size: int = 128,
        num_layers: int = 2,
        dropout: float = 0.2,
    ):
        super().__init__()
        self.frontend = ConvFrontEnd(input_height, channels, pools, kernel_size)
        self.dropout = nn.Dropout(dropout)
        self.encoder = RecurrentEncoder(self.frontend.output_size, hidden_size, num_layers, cell, dropout)
        self.classifier = nn.Linear(self.encoder.output_size, num_classes)

    @property
    def min_input_length(self) -> int:
        return self.frontend.min_input_length

    def output_lengths(self, input_lengths: torch.Tensor) -> torch.Tensor:
        return self.frontend.output_lengths(input_lengths)

    def forward(self, inputs: torch.Tensor, input_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features, output_lengths = self.frontend(inputs, input_lengths)  # (N, T, F)
        features = self.dropout(features.transpose(0, 1))  # (T, N, F)
        encoded = self.dropout(self.encoder(features, output_lengths))  # (T, N, 2H)
        return log_softmax_float32(self.classifier(encoded)), output_lengths

    def resize_classes(self, num_classes: int) -> None:
        """Grow the output layer to num_classes, keeping the trained rows (alphabet extended at the end)."""
        old = self.classifier
        if num_classes < old.out_features:
            raise ValueError(f"cannot shrink the output layer from {old.out_features} to {num_classes} classes")
        new = nn.Linear(old.in_features, num_classes).to(old.weight.device)
        with torch.no_grad():
            new.weight[: old.out_features] = old.weight
            new.bias[: old.out_features] = old.bias
        self.classifier = new

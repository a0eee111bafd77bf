"""Bidirectional recurrent encoder over packed sequences, so padding never reaches a sample's state."""
from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}  # "rnn" is the plain tanh RNN


class RecurrentEncoder(nn.Module):
    def __init__(self, input_size: int, hidden_size: int = 128, num_layers: int = 2, cell: str = "lstm",
                 dropout: float = 0.0):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, not {cell!r}")
        self.rnn = CELLS[cell](
            input_size, hidden_size, num_layers=num_layers, bidirectional=True,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.output_size = 2 * hidden_size

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (T, N, F), lengths (N,) -> (T, N, 2 * hidden); frames t >= lengths[n] are zero."""
        packed = pack_padded_sequence(features, lengths.cpu(), enforce_sorted=False)
        outputs, _ = self.rnn(packed)
        outputs, _ = pad_packed_sequence(outputs, total_length=features.size(0))
        return outputs

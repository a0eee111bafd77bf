"""A character-level LSTM language model: p(next character | the characters before it), over an alphabet.

Tokens: 0 is the sentence boundary (fed as <s> before the first character, predicted as </s> after the last),
1..V the alphabet's symbols in order, the same numbering as the recognizer's classes (whose 0 is the blank).
A sentence "ab" trains as inputs [0, a, b] -> targets [a, b, 0].

CharLMModule trains it (recog-train-lm, conf/train_lm.yaml); recog/decoding/char_lstm.py uses it in the beam
search, one LSTM step per new character, batched over the beams.
"""
from __future__ import annotations

import math

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

from recog.alphabet import Alphabet
from recog.optimization import adamw_with_schedule

BOUNDARY = 0  # <s> as an input token, </s> as a predicted one
PADDING = -100  # target value of padded positions (ignored by the loss)

LSTMState = tuple[torch.Tensor, torch.Tensor]  # (h, c), each (num_layers, N, hidden_size)


class CharLSTM(nn.Module):
    """Embedding -> LSTM -> linear -> log-softmax over the boundary token and `num_symbols` characters."""

    def __init__(self, num_symbols: int, embedding_size: int = 64, hidden_size: int = 256, num_layers: int = 2,
                 dropout: float = 0.1):
        super().__init__()
        self.embedding = nn.Embedding(num_symbols + 1, embedding_size)
        self.lstm = nn.LSTM(embedding_size, hidden_size, num_layers, dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_size, num_symbols + 1)

    def forward(self, tokens: torch.Tensor, state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
        """tokens (T, N) -> log_probs (T, N, V + 1) of the token that follows each, and the LSTM state after them.

        Padding after a sequence's end does not change its outputs (the LSTM reads left to right), so padded
        batches need no lengths here."""
        hidden, state = self.lstm(self.embedding(tokens), state)
        return F.log_softmax(self.output(self.dropout(hidden)).float(), dim=-1), state


def encode_sentence(alphabet: Alphabet, text: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets), each (len(text) + 1,): <s> text, and text </s>."""
    labels = alphabet.encode(text)
    return torch.tensor([BOUNDARY, *labels]), torch.tensor([*labels, BOUNDARY])


class CharLMModule(pl.LightningModule):
    """Trains a CharLSTM by next-character cross-entropy; logs loss (nats per character), bits per character and
    perplexity. The alphabet and the network's settings travel in the checkpoint."""

    def __init__(self, alphabet: list[str], model: dict | None = None, optimizer: dict | None = None,
                 scheduler: dict | None = None, normalizer: dict | None = None):
        super().__init__()
        self.save_hyperparameters()
        self.alphabet = Alphabet(alphabet)
        self.model = CharLSTM(len(self.alphabet), **(model or {}))

    def forward(self, tokens: torch.Tensor, state: LSTMState | None = None) -> tuple[torch.Tensor, LSTMState]:
        return self.model(tokens, state)

    def _loss(self, batch: dict, stage: str) -> torch.Tensor:
        log_probs, _ = self(batch["inputs"])  # (T, N, V + 1)
        loss = F.nll_loss(log_probs.flatten(0, 1), batch["targets"].flatten(), ignore_index=PADDING)
        characters = int((batch["targets"] != PADDING).sum())
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=characters)
        if stage == "val":
            self.log("val/bits_per_char", loss / math.log(2), prog_bar=True, batch_size=characters)
            self.log("val/perplexity", torch.exp(loss), batch_size=characters)
        return loss

    def training_step(self, batch: dict, batch_index: int) -> torch.Tensor:
        return self._loss(batch, "train")

    def validation_step(self, batch: dict, batch_index: int) -> None:
        self._loss(batch, "val")

    def configure_optimizers(self):
        return adamw_with_schedule(self.parameters(), self.hparams.optimizer, self.hparams.scheduler,
                                   int(self.trainer.estimated_stepping_batches))

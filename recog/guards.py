"""A guard against non-finite training steps: skip them, count them, stop if they keep coming.

One NaN or inf in the loss (a corrupt sample, an overflow under mixed precision) makes the gradients
non-finite, and one optimizer step with them turns every weight into NaN for good. The guard looks at the
gradient norm after the backward pass (in a distributed run the gradients are already averaged, so every
process decides alike), and for a non-finite one drops the gradients, so the optimizer leaves the weights and
its own state as they are; the learning-rate schedule still advances with the step count. The forward pass of
such a batch has already moved the batch-norm running statistics (a NaN input makes them NaN for good), so the
guard keeps a copy of the model's buffers from before each step and puts it back. A run whose steps keep
failing has diverged: after `max_consecutive` of them in a row the guard stops it with an error.
"""
from __future__ import annotations

import logging

import pytorch_lightning as pl
import torch

from recog.errors import ConfigError, RecogError

log = logging.getLogger(__name__)


class TrainingDivergedError(RecogError):
    pass


class NonFiniteStepGuard(pl.Callback):
    """Logs `train/nonfinite_skipped`, the number of steps skipped so far (kept across resumes)."""

    def __init__(self, max_consecutive: int = 5):
        if max_consecutive < 1:
            raise ConfigError(f"callbacks.nonfinite_guard.max_consecutive must be at least 1, not {max_consecutive}")
        self.max_consecutive = max_consecutive
        self.skipped = 0
        self.consecutive = 0
        self.buffers_before: dict[str, torch.Tensor] = {}

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        self.buffers_before = {name: buffer.clone() for name, buffer in pl_module.named_buffers()}

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer) -> None:
        gradients = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(gradients) if gradients else torch.tensor(0.0)
        if torch.isfinite(norm):
            self.consecutive = 0
        else:
            self.skip(trainer, pl_module, optimizer, float(norm))
        pl_module.log("train/nonfinite_skipped", float(self.skipped), on_step=True, on_epoch=False)

    def skip(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer, norm: float) -> None:
        if getattr(trainer.precision_plugin, "scaler", None) is None:
            optimizer.zero_grad(set_to_none=True)  # float16's loss scaler skips such steps itself
        with torch.no_grad():
            for name, buffer in pl_module.named_buffers():
                buffer.copy_(self.buffers_before[name])
        self.skipped += 1
        self.consecutive += 1
        log.warning("step %d: the gradient norm is %s; the step is skipped (%d skipped so far, %d in a row)",
                    trainer.global_step, norm, self.skipped, self.consecutive)
        if self.consecutive >= self.max_consecutive:
            raise TrainingDivergedError(
                f"training diverged: {self.consecutive} steps in a row (up to step {trainer.global_step}) had a "
                "non-finite loss or gradient; lower optimizer.lr, train in trainer.precision=32-true, or look for "
                "bad samples; raise callbacks.nonfinite_guard.max_consecutive to tolerate longer runs of them")

    def state_dict(self) -> dict:
        return {"skipped": self.skipped, "consecutive": self.consecutive}

    def load_state_dict(self, state_dict: dict) -> None:
        self.skipped, self.consecutive = state_dict["skipped"], state_dict["consecutive"]

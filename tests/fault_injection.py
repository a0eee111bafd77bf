"""Faults injected into real training runs (tests/test_faults.py), as Lightning callbacks that a test adds to
recog-train from the command line: +callbacks.kill._target_=tests.fault_injection.KillAtStep +callbacks.kill.step=5
(run as `python -m recog.train` from the repository root, so that `tests` is importable)."""
from __future__ import annotations

import os
import signal

import pytorch_lightning as pl
import torch


class KillAtStep(pl.Callback):
    """SIGKILL this process as optimizer step `step` begins: no exception, no clean-up, as a crash or `kill -9`."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class PoisonSteps(pl.Callback):
    """Fill the inputs of the batches of the listed optimizer steps (or of every step) with NaN."""

    def __init__(self, steps: list[int] | None = None):
        self.steps = None if steps is None else set(steps)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module, batch, batch_idx: int) -> None:
        if self.steps is None or trainer.global_step in self.steps:
            batch["images"].fill_(float("nan"))


class RecordSteps(pl.Callback):
    """Append `step<TAB>learning rate<TAB>line ids<TAB>first dropout draw` of every optimizer step to `path`:
    the rate the step is taken with, the batch it reads, and the state of the global random stream."""

    def __init__(self, path: str):
        self.path = path

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module, batch, batch_idx: int) -> None:
        rate = trainer.optimizers[0].param_groups[0]["lr"]
        random_state = torch.get_rng_state()
        draw = torch.rand(1).item()
        torch.set_rng_state(random_state)  # observe the stream without moving it
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(f"{trainer.global_step}\t{rate!r}\t{','.join(batch['ids'])}\t{draw!r}\n")


def final_weights(checkpoint_path) -> dict[str, torch.Tensor]:
    return torch.load(checkpoint_path, map_location="cpu", weights_only=False)["state_dict"]

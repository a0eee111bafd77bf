"""Exact resume: the random number streams of training travel in the checkpoint.

Lightning checkpoints the weights, optimizer, scheduler, step counters and (as the data module's state, see
TranscribedDataModule.state_dict) the position in the epoch, but not the random generators. Data
augmentation needs none (it is seeded by seed/epoch/index), so what is left is the model's own randomness:
dropout masks, drawn from the global generators. RandomStateCheckpoint saves every process's generator
states and puts them back just before the first training step after a resume, so the resumed run draws the
masks the uninterrupted one would have drawn. The training loader draws nothing from the global generators
(it has its own, see TranscribedDataModule.dataloader), so nothing between the save and that step moves them.
"""
from __future__ import annotations

import logging
import random

import numpy as np
import pytorch_lightning as pl
import torch

log = logging.getLogger(__name__)


def collect_random_states() -> dict:
    """The generator states as tensors, tuples and numbers only, so that the checkpoint still loads with
    torch.load(weights_only=True), as Lightning loads it (no numpy arrays)."""
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    states = {"torch": torch.get_rng_state(), "python": random.getstate(),
              "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached_gaussian)}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_random_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(states["python"])
    kind, keys, position, has_gauss, cached_gaussian = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached_gaussian))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def gather_from_all_processes(value: object) -> list:
    """[value of rank 0, value of rank 1, ...]: every process calls this at the same point."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return [value]
    gathered = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, value)
    return gathered


class RandomStateCheckpoint(pl.Callback):
    """Saves the generator states of every process in checkpoints; restores them on resume."""

    def __init__(self):
        self.states_to_restore: list[dict] | None = None

    def state_dict(self) -> dict:
        return {"per_process": gather_from_all_processes(collect_random_states())}

    def load_state_dict(self, state_dict: dict) -> None:
        self.states_to_restore = state_dict["per_process"]

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        if self.states_to_restore is None:
            return
        if len(self.states_to_restore) == trainer.world_size:
            restore_random_states(self.states_to_restore[trainer.global_rank])
        else:
            log.warning("the checkpoint was written by %d processes and this run has %d: training goes on, but "
                        "not exactly as the interrupted run would have (random streams and epoch shares differ)",
                        len(self.states_to_restore), trainer.world_size)
        self.states_to_restore = None

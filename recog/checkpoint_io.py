"""Checkpoints written atomically: a run killed while saving keeps its previous checkpoint.

Lightning's own writer opens the target file and writes into it (inside an fsspec transaction whose
temporary file lies in the system's temporary folder, from which a move across file systems is a copy), so
a kill in the middle can leave a truncated last.ckpt. Here the checkpoint goes to a temporary file in the
same folder, is flushed to disk, and then replaces the target with os.replace, which is atomic on one file
system: the target is always either the old checkpoint or the new one, whole. A temporary file left by a killed
writer is removed by the next successful save of the same target.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose save writes `.<name>.<pid>.tmp` beside the target, then renames it."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO.save_checkpoint takes no storage_options")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(temporary, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        for left_by_a_killed_writer in path.parent.glob(f".{path.name}.*.tmp"):
            left_by_a_killed_writer.unlink(missing_ok=True)

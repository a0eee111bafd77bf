"""A trained recognizer for inference: checkpoint -> preprocessing + model + decoder -> text."""
from __future__ import annotations

from pathlib import Path

import torch

from recog.errors import RecogError
from recog.images import ImagePreprocessor
from recog.lightning_module import CTCRecognitionModule
from recog.text import TextNormalizer


class CheckpointError(RecogError):
    pass


def choose_device(device: str = "auto") -> torch.device:
    """auto (a GPU if there is one), cpu, cuda or cuda:N; anything unavailable is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except RuntimeError:
        raise RecogError(f"device {device!r} is not a device name: use auto, cpu, cuda or cuda:N") from None
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise RecogError(f"device {device!r} is not available on this machine: use cpu (or auto)")
    if chosen.type == "cuda" and (chosen.index or 0) >= torch.cuda.device_count():
        raise RecogError(f"device {device!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
    if chosen.type not in ("cpu", "cuda"):
        raise RecogError(f"device {device!r} is not supported: use auto, cpu, cuda or cuda:N")
    return chosen


def load_module(path: str | Path, device: str = "auto") -> CTCRecognitionModule:
    """Load a recog checkpoint for inference (eval mode), with a clear error for anything else."""
    path = Path(path)
    target = choose_device(device)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        module = CTCRecognitionModule.load_from_checkpoint(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch.load raises many types (pickle, zip, key errors) for a bad file
        raise CheckpointError(f"{path}: not a recog checkpoint ({type(error).__name__}: {error})") from None
    return module.to(target).eval()


class Recognizer:
    """Batches of preprocessed inputs -> text, with the checkpoint's own preprocessing and alphabet."""

    def __init__(self, module: CTCRecognitionModule):
        self.module = module
        self.preprocessor = ImagePreprocessor.from_dict(module.hparams.preprocessing)
        self.normalizer = TextNormalizer.from_dict(module.hparams.normalizer)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto") -> "Recognizer":
        return cls(load_module(path, device))

    @property
    def device(self) -> torch.device:
        return self.module.device

    @torch.inference_mode()
    def recognize(self, inputs: torch.Tensor, input_lengths: torch.Tensor) -> list[str]:
        """inputs (N, 1, H, W) zero-padded, input_lengths (N,) -> one text per sample."""
        log_probs, output_lengths = self.module(inputs.to(self.device), input_lengths.to(self.device))
        return self.module.decode(log_probs, output_lengths)

    def recognize_tensors(self, tensors: list[torch.Tensor]) -> list[str]:
        """Preprocessed inputs (1, H, W_i) of any widths -> texts, in the same order."""
        lengths = torch.tensor([t.size(-1) for t in tensors])
        batch = torch.zeros(len(tensors), 1, tensors[0].size(-2), int(lengths.max()))
        for row, tensor in enumerate(tensors):
            batch[row, :, :, : tensor.size(-1)] = tensor
        return self.recognize(batch, lengths)

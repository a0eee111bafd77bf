"""A trained recognizer for inference: checkpoint -> preprocessing + model + decoder -> text."""
from __future__ import annotations

from pathlib import Path

import torch

from recog.images import ImagePreprocessor
from recog.lightning_module import CTCRecognitionModule
from recog.text import TextNormalizer


class CheckpointError(ValueError):
    pass


def choose_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_module(path: str | Path, device: str = "auto") -> CTCRecognitionModule:
    """Load a recog checkpoint for inference (eval mode), with a clear error for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        module = CTCRecognitionModule.load_from_checkpoint(path, map_location="cpu", weights_only=False)
    except Exception as error:  # torch.load raises many types (pickle, zip, key errors) for a bad file
        raise CheckpointError(f"{path}: not a recog checkpoint ({type(error).__name__}: {error})") from None
    return module.to(choose_device(device)).eval()


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

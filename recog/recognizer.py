"""A trained recognizer for inference: checkpoint -> preprocessing + model + decoder -> text."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

from recog.alignment import FrameGeometry, LineAlignment, align_line
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


class Recognition(NamedTuple):
    """A batch through the model: the texts and the frame-level outputs they were decoded from."""

    texts: list[str]
    log_probs: torch.Tensor  # (T, N, C) float32
    output_lengths: torch.Tensor  # (N,)

    def sample_log_probs(self, index: int) -> torch.Tensor:
        """(T_n, C) log-probabilities of sample `index`, without padding frames."""
        return self.log_probs[: int(self.output_lengths[index]), index]


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
    def run(self, inputs: torch.Tensor, input_lengths: torch.Tensor) -> Recognition:
        """inputs (N, 1, H, W) zero-padded, input_lengths (N,) -> texts with their log-probs."""
        log_probs, output_lengths = self.module(inputs.to(self.device), input_lengths.to(self.device))
        return Recognition(self.module.decode(log_probs, output_lengths), log_probs, output_lengths)

    def recognize(self, inputs: torch.Tensor, input_lengths: torch.Tensor) -> list[str]:
        """inputs (N, 1, H, W) zero-padded, input_lengths (N,) -> one text per sample."""
        return self.run(inputs, input_lengths).texts

    def run_tensors(self, tensors: list[torch.Tensor]) -> Recognition:
        """Preprocessed inputs (1, H, W_i) of any widths -> their recognition, in the same order."""
        lengths = torch.tensor([t.size(-1) for t in tensors])
        batch = torch.zeros(len(tensors), 1, tensors[0].size(-2), int(lengths.max()))
        for row, tensor in enumerate(tensors):
            batch[row, :, :, : tensor.size(-1)] = tensor
        return self.run(batch, lengths)

    def frame_geometry(self, original_size: tuple[int, int]) -> FrameGeometry:
        """How this model's output frames map onto an original image of (width, height) pixels."""
        return FrameGeometry.for_image(self.module.model.frontend.width_stride, original_size,
                                       self.preprocessor.height)

    def align(self, recognition: Recognition, index: int, original_size: tuple[int, int]) -> LineAlignment:
        """Characters and words of sample `index`'s text, in pixels of its original image."""
        return align_line(recognition.sample_log_probs(index).cpu(), recognition.texts[index],
                          self.module.alphabet, self.frame_geometry(original_size))

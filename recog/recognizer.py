"""A trained recognizer for inference: checkpoint -> preprocessing + model + decoder -> text."""
from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch

from recog.alignment import FrameGeometry, LineAlignment, align_line
from recog.errors import RecogError
from recog.lightning_module import CTCRecognitionModule
from recog.text import TextNormalizer
from recog.windows import plan_windows


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
    """Inputs -> text, with the checkpoint's own preprocessing, alphabet and decoder.

    Inputs longer than `window` columns (image pixels or feature frames: 3000 frames = 30 s of audio) are read
    in overlapping windows with `context` columns on each side (recog/windows.py), so memory stays bounded
    whatever the length; at most `batch_size` inputs or windows go through the model at once.
    """

    def __init__(self, module: CTCRecognitionModule, batch_size: int = 16, window: int = 3000, context: int = 200):
        self.module = module
        self.preprocessor = module.preprocessor
        self.normalizer = TextNormalizer.from_dict(module.hparams.normalizer)
        self.batch_size = batch_size
        self.window = window
        self.context = context

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", **settings) -> "Recognizer":
        return cls(load_module(path, device), **settings)

    @property
    def device(self) -> torch.device:
        return self.module.device

    @property
    def stride(self) -> int:
        return self.module.model.frontend.width_stride

    @torch.inference_mode()
    def run(self, inputs: torch.Tensor, input_lengths: torch.Tensor) -> Recognition:
        """inputs (N, 1, H, W) zero-padded, input_lengths (N,) -> texts with their log-probs, in one pass."""
        log_probs, output_lengths = self.module(inputs.to(self.device), input_lengths.to(self.device))
        return Recognition(self.module.decode(log_probs, output_lengths), log_probs, output_lengths)

    def recognize(self, inputs: torch.Tensor, input_lengths: torch.Tensor) -> list[str]:
        """inputs (N, 1, H, W) zero-padded, input_lengths (N,) -> one text per sample."""
        return self.run(inputs, input_lengths).texts

    @torch.inference_mode()
    def run_tensors(self, tensors: list[torch.Tensor]) -> Recognition:
        """Preprocessed inputs (1, H, W_i) of any lengths -> their recognition, in the same order."""
        pieces = [(row, window) for row, tensor in enumerate(tensors)
                  for window in plan_windows(tensor.size(-1), self.window, self.context, self.stride)]
        frames: list[list[torch.Tensor]] = [[] for _ in tensors]  # per input, its kept (T_w, C) pieces
        for first in range(0, len(pieces), self.batch_size):
            chunk = pieces[first : first + self.batch_size]
            inputs, lengths = pad_batch([tensors[row][..., w.start : w.end] for row, w in chunk])
            log_probs, output_lengths = self.module(inputs.to(self.device), lengths.to(self.device))
            for column, (row, window) in enumerate(chunk):
                local = log_probs[: int(output_lengths[column]), column]  # (T_w, C)
                offset = window.first_frame(self.stride)
                end = None if window.keep_end is None else window.keep_end - offset
                frames[row].append(local[window.keep_start - offset : end])
        log_probs, output_lengths = pad_frames([torch.cat(pieces) for pieces in frames])
        return Recognition(self.module.decode(log_probs, output_lengths), log_probs, output_lengths)

    def frame_geometry(self, source) -> FrameGeometry:
        """How this model's output frames map onto a source (original image, or waveform)."""
        return self.preprocessor.frame_geometry(source, self.stride)

    def align(self, recognition: Recognition, index: int, source) -> LineAlignment:
        """Characters and words of sample `index`'s text, in the units of its source (pixels or seconds)."""
        return align_line(recognition.sample_log_probs(index).cpu(), recognition.texts[index],
                          self.module.alphabet, self.frame_geometry(source))


def pad_batch(tensors: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs (1, H, W_i) -> zero-padded batch (N, 1, H, W_max) and lengths (N,)."""
    lengths = torch.tensor([t.size(-1) for t in tensors])
    batch = torch.zeros(len(tensors), 1, tensors[0].size(-2), int(lengths.max()))
    for row, tensor in enumerate(tensors):
        batch[row, :, :, : tensor.size(-1)] = tensor
    return batch, lengths


def pad_frames(sequences: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probs (T_i, C) -> (T_max, N, C) padded with zeros, and lengths (N,)."""
    lengths = torch.tensor([len(s) for s in sequences])
    return torch.nn.utils.rnn.pad_sequence(sequences), lengths

"""A trained recognizer for inference: checkpoint (or exported model) -> preprocessing + model + decoder -> text.

The Recognizer calls a backend for the forward pass: `ModuleBackend` for a checkpoint, or an exported model's
(recog/exported.py), so batching, windows, decoding and alignment are the same whichever file holds the model.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

import torch

from recog.alignment import FrameGeometry, LineAlignment, align_line
from recog.decoding import DecodingError, build_decoder
from recog.errors import RecogError
from recog.exported import ExportedBackend, ModelInfo, exported_format, load_exported
from recog.lightning_module import CTCRecognitionModule
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


class ModuleBackend:
    """A checkpoint's module as a backend: `info`, `device`, `backend(inputs, input_lengths)`."""

    def __init__(self, module: CTCRecognitionModule):
        self.module = module
        self.info = ModelInfo.of_module(module)

    @property
    def device(self) -> torch.device:
        return self.module.device

    def __call__(self, inputs: torch.Tensor, input_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.module(inputs, input_lengths)


def load_backend(path: str | Path, device: str = "auto") -> ModuleBackend | ExportedBackend:
    """A recog checkpoint, or a model written by recog-export (told apart by recog/exported.py)."""
    file_format = exported_format(path)
    if file_format is None:
        return ModuleBackend(load_module(path, device))
    if device != "auto" and choose_device(device).type != "cpu":
        raise CheckpointError(f"{path}: an exported model runs on the CPU (where it was traced and checked); "
                              "use --device cpu, or the checkpoint to run on a GPU")
    return load_exported(path, file_format)


class Recognition(NamedTuple):
    """A batch through the model: the texts and the frame-level outputs they were decoded from."""

    texts: list[str | None]  # None: the decoder refused this sample's output (the reason is in errors)
    log_probs: torch.Tensor  # (T, N, C) float32
    output_lengths: torch.Tensor  # (N,)
    errors: dict[int, str] = {}  # sample index -> why its output cannot be decoded

    def sample_log_probs(self, index: int) -> torch.Tensor:
        """(T_n, C) log-probabilities of sample `index`, without padding frames."""
        return self.log_probs[: int(self.output_lengths[index]), index]


class Recognizer:
    """Inputs -> text, with the checkpoint's own preprocessing, alphabet and decoder.

    Inputs longer than `window` columns (image pixels or feature frames: 3000 frames = 30 s of audio) are read
    in overlapping windows with `context` columns on each side (recog/windows.py), so memory stays bounded
    whatever the length; at most `batch_size` inputs or windows go through the model at once.
    """

    def __init__(self, backend: ModuleBackend | ExportedBackend, batch_size: int = 16, window: int = 3000,
                 context: int = 200):
        self.backend = backend
        self.info = backend.info
        self.alphabet = backend.info.alphabet
        self.preprocessor = backend.info.preprocessor
        self.normalizer = backend.info.normalizer
        self.batch_size = batch_size
        self.window = window
        self.context = context

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", decoder=None, **settings) -> "Recognizer":
        """From a checkpoint or a model written by recog-export; `decoder`: a conf/decoder/ config (None: best
        path, the decoder training validates with)."""
        recognizer = cls(load_backend(path, device), **settings)
        if decoder is not None:
            recognizer.use_decoder(decoder)
        return recognizer

    def use_decoder(self, config) -> None:
        """Decode with a conf/decoder/ config (greedy, beam, beam_word_lm, ...) built for this model's alphabet."""
        self.info = replace(self.info, decoder=build_decoder(config, self.alphabet))

    @property
    def device(self) -> torch.device:
        return self.backend.device

    @property
    def stride(self) -> int:
        return self.info.width_stride

    @torch.inference_mode()
    def run(self, inputs: torch.Tensor, input_lengths: torch.Tensor) -> Recognition:
        """inputs (N, 1, H, W) zero-padded, input_lengths (N,) -> texts with their log-probs, in one pass."""
        log_probs, output_lengths = self.backend(inputs.to(self.device), input_lengths.to(self.device))
        return self._decoded(log_probs, output_lengths)

    def recognize(self, inputs: torch.Tensor, input_lengths: torch.Tensor) -> list[str | None]:
        """inputs (N, 1, H, W) zero-padded, input_lengths (N,) -> one text per sample (None where its output
        cannot be decoded; run() says why)."""
        return self.run(inputs, input_lengths).texts

    def _decoded(self, log_probs: torch.Tensor, output_lengths: torch.Tensor) -> Recognition:
        """log_probs (T, N, C) -> the recognition; when the decoder refuses the batch (an output gone NaN, e.g.
        from features that overflowed), each sample alone, so that only the samples at fault get no text."""
        try:
            return Recognition(self.info.decode(log_probs, output_lengths), log_probs, output_lengths)
        except DecodingError:
            texts, errors = [], {}
            for index in range(log_probs.shape[1]):
                alone = torch.where(torch.arange(len(output_lengths)) == index, output_lengths.cpu(), 0)
                try:  # the others with length 0: an error still names frame t of sample `index`
                    texts.append(self.info.decode(log_probs, alone)[index])
                except DecodingError as error:
                    texts.append(None)
                    errors[index] = f"the model's output cannot be decoded: {error}"
            return Recognition(texts, log_probs, output_lengths, errors)

    @torch.inference_mode()
    def run_tensors(self, tensors: list[torch.Tensor]) -> Recognition:
        """Preprocessed inputs (1, H, W_i) of any lengths -> their recognition, in the same order."""
        pieces = [(row, window) for row, tensor in enumerate(tensors)
                  for window in plan_windows(tensor.size(-1), self.window, self.context, self.stride)]
        frames: list[list[torch.Tensor]] = [[] for _ in tensors]  # per input, its kept (T_w, C) pieces
        for first in range(0, len(pieces), self.batch_size):
            chunk = pieces[first : first + self.batch_size]
            inputs, lengths = pad_batch([tensors[row][..., w.start : w.end] for row, w in chunk])
            log_probs, output_lengths = self.backend(inputs.to(self.device), lengths.to(self.device))
            for column, (row, window) in enumerate(chunk):
                local = log_probs[: int(output_lengths[column]), column]  # (T_w, C)
                offset = window.first_frame(self.stride)
                end = None if window.keep_end is None else window.keep_end - offset
                frames[row].append(local[window.keep_start - offset : end])
        log_probs, output_lengths = pad_frames([torch.cat(pieces) for pieces in frames])
        return self._decoded(log_probs, output_lengths)

    def frame_geometry(self, source) -> FrameGeometry:
        """How this model's output frames map onto a source (original image, or waveform)."""
        return self.preprocessor.frame_geometry(source, self.stride)

    def align(self, recognition: Recognition, index: int, source) -> LineAlignment:
        """Characters and words of sample `index`'s text, in the units of its source (pixels or seconds)."""
        return align_line(recognition.sample_log_probs(index).cpu(), recognition.texts[index],
                          self.alphabet, self.frame_geometry(source))


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

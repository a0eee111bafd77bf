"""Models written by recog-export: the network alone, as a TorchScript or an ONNX file, with the settings that
give its numbers their meaning embedded in the same file, so that the file alone is enough to transcribe.

The network maps inputs (N, 1, H, W) float32 and input_lengths (N,) int64 to log_probs (T, N, C) float32 and
output_lengths (N,) int64; N and W (so T) are free. The settings are one JSON document (`ModelInfo`): the
checkpoint's alphabet, text normalisation and preprocessing, and the front end's width stride and shortest input.
TorchScript keeps it as the archive's extra file `recog.json`, ONNX as the model's metadata property `recog.json`.

A backend is what the Recognizer calls for the forward pass: `info` (a ModelInfo), `device`, and
`backend(inputs, input_lengths) -> (log_probs, output_lengths)`. ExportedBackend is the one for an exported file
of either format, on the CPU (where exports are traced and checked); recog/recognizer.py has the one for a
checkpoint.
"""
from __future__ import annotations

import functools
import json
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from recog.alphabet import Alphabet
from recog.decoding import GreedyDecoder
from recog.errors import RecogError
from recog.frontend import check_inputs
from recog.inputs import Preprocessor, preprocessor_from_dict
from recog.text import TextNormalizer

METADATA_NAME = "recog.json"  # TorchScript extra file, ONNX metadata key
FORMAT_VERSION = 1
ONNX_SUFFIX = ".onnx"
INPUT_NAMES = ["inputs", "input_lengths"]
OUTPUT_NAMES = ["log_probs", "output_lengths"]


class ExportedModelError(RecogError):
    pass


@dataclass(frozen=True)
class ModelInfo:
    """What a network's inputs and outputs mean: all the Recognizer needs besides the forward pass."""

    alphabet: Alphabet
    preprocessor: Preprocessor
    normalizer: TextNormalizer
    width_stride: int  # input columns per output frame
    min_input_length: int  # the shortest input that gives one output frame
    decoder: GreedyDecoder = field(default_factory=GreedyDecoder)  # log-probs -> labels: best path, as validation

    @classmethod
    def of_module(cls, module) -> "ModelInfo":
        """The settings of a CTCRecognitionModule (a loaded checkpoint)."""
        frontend = module.model.frontend
        return cls(module.alphabet, module.preprocessor, TextNormalizer.from_dict(module.hparams.normalizer),
                   frontend.width_stride, frontend.min_input_length, module.decoder)

    def decode(self, log_probs: torch.Tensor, output_lengths: torch.Tensor) -> list[str]:
        """log_probs (T, N, C), output_lengths (N,) -> one text per sample."""
        return [self.alphabet.decode(labels) for labels in self.decoder(log_probs, output_lengths)]

    def to_json(self) -> str:
        return json.dumps({"format_version": FORMAT_VERSION, "alphabet": self.alphabet.symbols,
                           "preprocessing": self.preprocessor.to_dict(), "normalizer": self.normalizer.to_dict(),
                           "width_stride": self.width_stride, "min_input_length": self.min_input_length},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes, path: Path) -> "ModelInfo":
        if not text:
            raise ExportedModelError(f"{path}: holds no recog settings ({METADATA_NAME}), so it was not written by "
                                     "recog-export; export the checkpoint with recog-export")
        try:
            settings = json.loads(text)
            version = settings["format_version"]
        except (ValueError, KeyError, TypeError) as error:
            raise unreadable_settings(path, error) from None
        if version != FORMAT_VERSION:
            raise ExportedModelError(f"{path}: written in export format version {version}, this recog reads "
                                     f"version {FORMAT_VERSION}; export the checkpoint again")
        try:
            return cls(Alphabet(settings["alphabet"]), preprocessor_from_dict(settings["preprocessing"]),
                       TextNormalizer.from_dict(settings["normalizer"]), int(settings["width_stride"]),
                       int(settings["min_input_length"]))
        except (ValueError, KeyError, TypeError) as error:
            raise unreadable_settings(path, error) from None


def unreadable_settings(path: Path, error: Exception) -> ExportedModelError:
    return ExportedModelError(f"{path}: its recog settings ({METADATA_NAME}) are unreadable "
                              f"({type(error).__name__}: {error}); export the checkpoint again")


Network = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


class ExportedBackend:
    """An exported network with its embedded settings, on the CPU; it runs the front end's input checks, which a
    traced graph does not have."""

    device = torch.device("cpu")

    def __init__(self, info: ModelInfo, network: Network):
        self.info = info
        self.network = network

    def __call__(self, inputs: torch.Tensor, input_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (N, 1, H, W) zero-padded, input_lengths (N,) -> log_probs (T, N, C), output_lengths (N,)."""
        check_inputs(inputs, input_lengths, self.info.preprocessor.input_height, self.info.min_input_length)
        return self.network(inputs.float(), input_lengths.long())


def load_torchscript(path: Path) -> ExportedBackend:
    extra_files = {METADATA_NAME: ""}
    try:
        with warnings.catch_warnings():  # TorchScript's deprecation notice, on every load: not the user's concern
            warnings.simplefilter("ignore", FutureWarning)
            network = torch.jit.load(str(path), map_location="cpu", _extra_files=extra_files)
    except Exception as error:  # torch.jit.load raises RuntimeError, ValueError, ... for a bad archive
        raise ExportedModelError(f"{path}: not a readable TorchScript model ({type(error).__name__}: "
                                 f"{first_line(error)})") from None
    return ExportedBackend(ModelInfo.from_json(extra_files[METADATA_NAME], path), network)


def load_onnx(path: Path) -> ExportedBackend:
    onnxruntime = import_optional("onnxruntime", "reading an ONNX model")
    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime's errors (InvalidProtobuf, Fail, ...) derive from Exception only
        raise ExportedModelError(f"{path}: not a readable ONNX model ({first_line(error)})") from None
    metadata = session.get_modelmeta().custom_metadata_map
    return ExportedBackend(ModelInfo.from_json(metadata.get(METADATA_NAME, ""), path),
                           functools.partial(run_onnx, session))


def run_onnx(session, inputs: torch.Tensor, input_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    feed = dict(zip(INPUT_NAMES, (inputs.cpu().contiguous().numpy(), input_lengths.cpu().numpy())))
    log_probs, output_lengths = session.run(OUTPUT_NAMES, feed)
    return torch.from_numpy(log_probs), torch.from_numpy(output_lengths)


LOADERS = {"torchscript": load_torchscript, "onnx": load_onnx}


def exported_format(path: str | Path) -> str | None:
    """"onnx" for a .onnx file, "torchscript" for a TorchScript archive, None for anything else (a checkpoint)."""
    path = Path(path)
    if path.suffix.lower() == ONNX_SUFFIX:
        return "onnx"
    return "torchscript" if is_torchscript_archive(path) else None


def is_torchscript_archive(path: Path) -> bool:
    """TorchScript archives hold compiled code (<name>/code/...); checkpoints written by torch.save do not."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.split("/")[1:2] == ["code"] for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def load_exported(path: str | Path, file_format: str) -> ExportedBackend:
    return LOADERS[file_format](Path(path))


def import_optional(name: str, purpose: str):
    """An optional dependency of the `export` extra, with what to install when it is missing."""
    try:
        return __import__(name)
    except ImportError:
        raise ExportedModelError(f"{purpose} needs the {name} package: pip install -e \".[export]\"") from None


def first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__

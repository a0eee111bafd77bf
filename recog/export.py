"""recog-export CHECKPOINT --format onnx|torchscript [-o OUT]: the trained network as one self-contained file.

The file maps inputs (N, 1, H, W) and input_lengths (N,) to log_probs (T, N, C) and output_lengths (N,), with
the batch size and the length free, and embeds the alphabet, text normalisation and preprocessing
(recog/exported.py), so `recog-transcribe OUT files...` needs nothing else. Both formats are made by tracing the
model on the CPU (TorchScript: torch.jit.trace; ONNX: torch.onnx's TorchScript-based exporter, opset 17). The
file is written beside its destination, then checked against the checkpoint on a batch of another size and
other lengths than the trace's, and only then renamed into place.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from pathlib import Path
from typing import Iterator

import torch

from recog.errors import ConfigError, RecogError
from recog.exported import (INPUT_NAMES, METADATA_NAME, ONNX_SUFFIX, OUTPUT_NAMES, ExportedModelError, ModelInfo,
                            import_optional, load_exported)
from recog.recognizer import load_module

FORMATS = ("onnx", "torchscript")
DEFAULT_SUFFIXES = {"onnx": ONNX_SUFFIX, "torchscript": ".torchscript.pt"}
ONNX_OPSET = 17
TOLERANCE = 1e-4  # largest log-probability difference to the checkpoint the written file may show
DYNAMIC_AXES = {"inputs": {0: "batch", 3: "width"}, "input_lengths": {0: "batch"},
                "log_probs": {0: "frames", 1: "batch"}, "output_lengths": {0: "batch"}}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="recog-export", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="a .ckpt written by recog-train")
    parser.add_argument("--format", required=True, choices=FORMATS)
    parser.add_argument("-o", "--output", type=Path,
                        help="the file to write (default: beside the checkpoint, as NAME.onnx or NAME.torchscript.pt)")
    return parser.parse_args(argv)


def output_path(checkpoint: Path, file_format: str, output: Path | None) -> Path:
    if output is None:
        return checkpoint.with_name(checkpoint.stem + DEFAULT_SUFFIXES[file_format])
    if (file_format == "onnx") != (output.suffix.lower() == ONNX_SUFFIX):
        raise ConfigError(f"-o {output}: an ONNX model's file name must end in {ONNX_SUFFIX} and no other's may "
                          "(recog-transcribe tells the formats apart by it)")
    return output


def example_batch(info: ModelInfo, widths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Random inputs (N, 1, H, max width) zero-padded beyond each sample's width, and the widths (N,)."""
    generator = torch.Generator().manual_seed(0)
    lengths = torch.tensor([max(width, info.min_input_length) for width in widths])
    inputs = torch.rand(len(widths), 1, info.preprocessor.input_height, int(lengths.max()), generator=generator)
    inside = torch.arange(inputs.size(-1)) < lengths.unsqueeze(1)  # (N, W)
    return inputs * inside[:, None, None, :], lengths


def write_torchscript(model: torch.nn.Module, info: ModelInfo, example: tuple, path: Path) -> None:
    with quiet_tracing():
        traced = torch.jit.trace(model, example)
        torch.jit.save(traced, str(path), _extra_files={METADATA_NAME: info.to_json()})


def write_onnx(model: torch.nn.Module, info: ModelInfo, example: tuple, path: Path) -> None:
    onnx = import_optional("onnx", "writing an ONNX model")
    with quiet_tracing():
        torch.onnx.export(model, example, str(path), dynamo=False, opset_version=ONNX_OPSET,
                          input_names=INPUT_NAMES, output_names=OUTPUT_NAMES, dynamic_axes=DYNAMIC_AXES)
    exported = onnx.load(str(path))
    onnx.helper.set_model_props(exported, {METADATA_NAME: info.to_json()})
    onnx.save(exported, str(path))


WRITERS = {"onnx": write_onnx, "torchscript": write_torchscript}


@contextlib.contextmanager
def quiet_tracing() -> Iterator[None]:
    """Silence the warnings tracing always gives for this model: torch's own shape checks in nn.LSTM (frozen, and
    true for every batch), the deprecation of the tracing exporters, and the ONNX exporter's caution about LSTMs
    and batch sizes. The written file's check on another batch size and other lengths is what shows the trace
    holds."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"torch\.nn\.modules\.rnn")
        warnings.filterwarnings("ignore", message=r".*(deprecated|legacy TorchScript-based ONNX|will be removed)")
        warnings.filterwarnings("ignore", message=r"Exporting a model to ONNX with a batch_size other than 1")
        yield


def check_against(model: torch.nn.Module, path: Path, file_format: str) -> float:
    """Largest |log-prob difference| between the written file and the model on a batch of 3 inputs of other
    lengths than the trace's (the shortest the front end reads among them); an error beyond TOLERANCE."""
    backend = load_exported(path, file_format)
    inputs, lengths = example_batch(backend.info, [3 * 64 + 1, 64, 1])
    with torch.inference_mode():
        expected_log_probs, expected_lengths = model(inputs, lengths)
        log_probs, output_lengths = backend(inputs, lengths)
    if not torch.equal(output_lengths, expected_lengths) or log_probs.shape != expected_log_probs.shape:
        raise RuntimeError(f"{path}: the exported model gives output lengths {output_lengths.tolist()}, the "
                           f"checkpoint {expected_lengths.tolist()}")
    difference = float((log_probs - expected_log_probs).abs().max())
    if difference > TOLERANCE:
        raise RuntimeError(f"{path}: the exported model's log-probs differ from the checkpoint's by {difference:.3g}")
    return difference


def export(checkpoint: Path, file_format: str, output: Path | None) -> tuple[Path, float]:
    """Write the checkpoint's network in `file_format`; returns the path and the checked difference."""
    destination = output_path(checkpoint, file_format, output)
    if not destination.parent.is_dir():
        raise ExportedModelError(f"{destination}: cannot write: its folder does not exist; create it or give "
                                 "another path with -o")
    module = load_module(checkpoint, device="cpu")
    model, info = module.model.eval(), ModelInfo.of_module(module)
    partial = destination.with_name(f".{destination.name}.partial")
    try:
        WRITERS[file_format](model, info, example_batch(info, [64, 37]), partial)
        difference = check_against(model, partial, file_format)
        os.replace(partial, destination)
    except OSError as error:
        raise ExportedModelError(f"{destination}: cannot write ({error.strerror or error}); give a writable "
                                 "path with -o") from None
    finally:
        partial.unlink(missing_ok=True)
    return destination, difference


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        destination, difference = export(args.checkpoint, args.format, args.output)
    except RecogError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{destination}: {args.format}, {destination.stat().st_size:,} bytes; max |log-prob difference| to the "
          f"checkpoint on a check batch: {difference:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

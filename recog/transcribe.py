"""recog-transcribe CHECKPOINT PATH... : print `path<TAB>text` for every image (files or folders).

`--align` adds where each word and character is, in pixels of the original image, with confidences
(JSON, see recog/alignment.py); `--plot DIR` draws that alignment over each image, one PNG per input.
Unreadable files get one error line each on stderr and the rest are still transcribed; the exit code is
1 if any file failed, 2 for a bad checkpoint, no input files or an unusable --plot folder, 0 otherwise.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from PIL import Image

from recog.alignment import LineAlignment
from recog.errors import RecogError
from recog.images import ImageReadError, load_grayscale
from recog.plots import plot_alignment
from recog.recognizer import Recognizer

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".pgm", ".ppm", ".pbm"}


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return int(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="recog-transcribe", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a .ckpt written by recog-train")
    parser.add_argument("paths", nargs="+", help="image files, or folders searched recursively for images")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per line: {path, text} or {path, error}")
    parser.add_argument("--align", action="store_true",
                        help="add unit, confidence, words and characters (start, end, confidence) to the JSON; "
                             "implies --json")
    parser.add_argument("--plot", type=Path, metavar="DIR",
                        help="save one PNG per input in DIR: the image with character and word boxes, and the "
                             "per-frame class posteriors (JSON records get its path as \"plot\")")
    parser.add_argument("--batch-size", type=positive_int, default=16)
    parser.add_argument("--device", default="auto", help="auto (GPU if available), cpu, cuda, cuda:1, ...")
    return parser.parse_args(argv)


def expand_paths(paths: list[str]) -> Iterator[Path]:
    """Files as given; folders become their image files, sorted, recursively."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            # not is_dir() rather than is_file(): a broken link must reach the reader and get its error line
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_dir())
        else:
            yield path


@dataclass(frozen=True)
class Transcript:
    """One input file: its text and what it was read from, or why it could not be read."""

    path: Path
    error: str | None = None
    text: str | None = None
    image: Image.Image | None = None  # the original image, grayscale
    log_probs: torch.Tensor | None = None  # (T, C) the model's output frames
    alignment: LineAlignment | None = None  # only when asked for


def transcribe_files(recognizer: Recognizer, files: list[Path], batch_size: int,
                     align: bool = False) -> Iterator[Transcript]:
    """One Transcript per file, in input order; a failed file never stops the others."""
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        images, errors = {}, {}
        for path in chunk:
            try:
                images[path] = load_grayscale(path)
            except ImageReadError as error:
                errors[path] = str(error)
        if images:
            recognition = recognizer.run_tensors([recognizer.preprocessor(image) for image in images.values()])
        row = {path: index for index, path in enumerate(images)}
        for path in chunk:
            if path in errors:
                yield Transcript(path, error=errors[path])
                continue
            image, index = images[path], row[path]
            alignment = recognizer.align(recognition, index, image.size) if align else None
            yield Transcript(path, text=recognition.texts[index], image=image,
                             log_probs=recognition.sample_log_probs(index).cpu(), alignment=alignment)


def plot_path(plot_dir: Path, image_path: Path) -> Path:
    """<name>-<8 hex digits of the absolute path>.png: readable, and distinct for equal names in other folders."""
    digest = hashlib.sha1(str(image_path.resolve()).encode("utf-8")).hexdigest()[:8]
    return plot_dir / f"{image_path.stem}-{digest}.png"


def save_plot(recognizer: Recognizer, transcript: Transcript, plot_dir: Path) -> Path:
    output_png = plot_path(plot_dir, transcript.path)
    plot_alignment(transcript.image, transcript.alignment, recognizer.frame_geometry(transcript.image.size),
                   transcript.log_probs.exp().numpy(), recognizer.module.alphabet.symbols, output_png)
    return output_png


def make_plot_dir(plot_dir: Path) -> None:
    try:
        plot_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RecogError(f"--plot {plot_dir}: cannot create this folder ({error.strerror}); "
                         "give a folder path that can be written") from None


def success_record(transcript: Transcript, plot: Path | None) -> dict:
    record = {"path": str(transcript.path), "text": transcript.text}
    if transcript.alignment is not None:
        record.update(transcript.alignment.to_dict())
    if plot is not None:
        record["plot"] = str(plot)
    return record


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    as_json = args.json or args.align
    try:
        recognizer = Recognizer.from_checkpoint(args.checkpoint, args.device)
        if args.plot is not None:
            make_plot_dir(args.plot)
    except RecogError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    files = list(expand_paths(args.paths))
    if not files:
        print("error: no image files found in the given paths", file=sys.stderr)
        return 2
    failed = 0
    align = args.align or args.plot is not None
    for transcript in transcribe_files(recognizer, files, args.batch_size, align):
        if transcript.error is not None:
            failed += 1
            print(f"error: {transcript.error}", file=sys.stderr)
            if as_json:
                print(json.dumps({"path": str(transcript.path), "error": transcript.error}, ensure_ascii=False))
            continue
        plot = save_plot(recognizer, transcript, args.plot) if args.plot is not None else None
        if as_json:
            print(json.dumps(success_record(transcript, plot), ensure_ascii=False))
        else:
            print(f"{transcript.path}\t{transcript.text}")
        sys.stdout.flush()
    if failed:
        print(f"{failed} of {len(files)} files failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

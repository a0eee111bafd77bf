"""recog-transcribe CHECKPOINT PATH... : print `path<TAB>text` for every image (files or folders).

Unreadable files get one error line each on stderr and the rest are still transcribed; the exit code is
1 if any file failed, 2 for a bad checkpoint or no input files, 0 otherwise.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterator

from recog.errors import RecogError
from recog.images import ImageReadError
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


def transcribe_files(recognizer: Recognizer, files: list[Path], batch_size: int) -> Iterator[tuple[Path, str | None, str | None]]:
    """(path, text, error) per file, in input order; a failed file never stops the others."""
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        loaded, errors = {}, {}
        for path in chunk:
            try:
                loaded[path] = recognizer.preprocessor.load(path)
            except ImageReadError as error:
                errors[path] = str(error)
        texts = dict(zip(loaded, recognizer.recognize_tensors(list(loaded.values())))) if loaded else {}
        for path in chunk:
            yield path, texts.get(path), errors.get(path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        recognizer = Recognizer.from_checkpoint(args.checkpoint, args.device)
    except RecogError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    files = list(expand_paths(args.paths))
    if not files:
        print("error: no image files found in the given paths", file=sys.stderr)
        return 2
    failed = 0
    for path, text, error in transcribe_files(recognizer, files, args.batch_size):
        if error is not None:
            failed += 1
            print(f"error: {error}", file=sys.stderr)
            if args.json:
                print(json.dumps({"path": str(path), "error": error}, ensure_ascii=False))
        elif args.json:
            print(json.dumps({"path": str(path), "text": text}, ensure_ascii=False))
        else:
            print(f"{path}\t{text}")
        sys.stdout.flush()
    if failed:
        print(f"{failed} of {len(files)} files failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

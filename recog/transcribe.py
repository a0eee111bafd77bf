"""recog-transcribe CHECKPOINT PATH... : print `path<TAB>text` for every input file (files or folders).

The checkpoint knows its modality: a handwriting model reads images, a speech model audio files (any rate,
channel count or format soundfile decodes; long recordings are read in overlapping windows).
`--align` adds where each word and character is, in pixels of the original image or in seconds of the
recording, with confidences (JSON, see recog/alignment.py); `--plot DIR` draws that alignment over each
image or spectrogram, one PNG per input. Unreadable files get one error line each on stderr and the rest are
still transcribed; the exit code is 1 if any file failed, 2 for a bad checkpoint, no input files or an
unusable --plot folder, 0 otherwise.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import torch

from recog.alignment import AlignmentError, LineAlignment
from recog.decoding.decoders import decoder_config
from recog.errors import InputReadError, RecogError
from recog.plots import plot_alignment
from recog.recognizer import Recognizer


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return int(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="recog-transcribe", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="a .ckpt written by recog-train, or a model written by recog-export "
                                           "(.onnx, or a TorchScript file)")
    parser.add_argument("paths", nargs="+", help="image or audio files (as the model reads), or folders searched "
                                                 "recursively for them")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per line: {path, text} or {path, error}")
    parser.add_argument("--align", action="store_true",
                        help="add unit (pixels or seconds), confidence, words and characters (start, end, "
                             "confidence) to the JSON; implies --json")
    parser.add_argument("--plot", type=Path, metavar="DIR",
                        help="save one PNG per input in DIR: the image or spectrogram with character and word "
                             "boxes, and the "
                             "per-frame class posteriors (JSON records get its path as \"plot\")")
    parser.add_argument("--batch-size", type=positive_int, default=16,
                        help="files (or windows of long files) read by the model at once")
    parser.add_argument("--device", default="auto", help="auto (GPU if available), cpu, cuda, cuda:1, ...")
    parser.add_argument("--decoder", metavar="NAME",
                        help="a decoder of conf/decoder/: greedy (the default), beam, beam_word_lm, beam_char_lm, "
                             "beam_char_lstm")
    parser.add_argument("--decoder-set", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting of the decoder, as recog-eval's decoder.KEY=VALUE (repeatable), e.g. "
                             "--decoder-set language_model.path=lm.arpa --decoder-set alpha=0.5")
    return parser.parse_args(argv)


def expand_paths(paths: list[str], suffixes: frozenset[str]) -> Iterator[Path]:
    """Files as given; folders become their files with one of the suffixes, sorted, recursively."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            # not is_dir() rather than is_file(): a broken link must reach the reader and get its error line
            yield from sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes and not p.is_dir())
        else:
            yield path


@dataclass(frozen=True)
class Transcript:
    """One input file: its text and what it was read from, or why it could not be read."""

    path: Path
    error: str | None = None
    text: str | None = None
    source: object = None  # the decoded file: grayscale image or waveform (samples,)
    log_probs: torch.Tensor | None = None  # (T, C) the model's output frames
    alignment: LineAlignment | None = None  # only when asked for
    alignment_error: str | None = None  # why the text could not be aligned (it is still transcribed)


def transcribe_files(recognizer: Recognizer, files: list[Path], batch_size: int,
                     align: bool = False) -> Iterator[Transcript]:
    """One Transcript per file, in input order; a failed file never stops the others."""
    preprocessor = recognizer.preprocessor
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        sources, errors = {}, {}
        for path in chunk:
            try:
                sources[path] = preprocessor.read(path)
            except InputReadError as error:
                errors[path] = str(error)
        if sources:
            recognition = recognizer.run_tensors([preprocessor(source) for source in sources.values()])
        row = {path: index for index, path in enumerate(sources)}
        for path in chunk:
            if path not in errors and recognition.texts[row[path]] is None:
                errors[path] = f"{path}: {recognition.errors[row[path]]}"
            if path in errors:
                yield Transcript(path, error=errors[path])
                continue
            source, index = sources[path], row[path]
            transcript = Transcript(path, text=recognition.texts[index], source=source,
                                    log_probs=recognition.sample_log_probs(index).cpu())
            yield aligned(recognizer, recognition, index, transcript) if align else transcript


def aligned(recognizer: Recognizer, recognition, index: int, transcript: Transcript) -> Transcript:
    try:
        return replace(transcript, alignment=recognizer.align(recognition, index, transcript.source))
    except AlignmentError as error:
        return replace(transcript, alignment_error=str(error))


def plot_path(plot_dir: Path, image_path: Path) -> Path:
    """<name>-<8 hex digits of the absolute path>.png: readable, and distinct for equal names in other folders."""
    digest = hashlib.sha1(str(image_path.resolve()).encode("utf-8")).hexdigest()[:8]
    return plot_dir / f"{image_path.stem}-{digest}.png"


def save_plot(recognizer: Recognizer, transcript: Transcript, plot_dir: Path) -> Path:
    output_png = plot_path(plot_dir, transcript.path)
    picture, cmap = recognizer.preprocessor.picture(transcript.source)
    plot_alignment(picture, cmap, transcript.alignment, recognizer.frame_geometry(transcript.source),
                   transcript.log_probs.exp().numpy(), recognizer.alphabet.symbols, output_png)
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
    if transcript.alignment_error is not None:
        record["alignment_error"] = transcript.alignment_error
    if plot is not None:
        record["plot"] = str(plot)
    return record


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    as_json = args.json or args.align
    try:
        decoder = None if args.decoder is None and not args.decoder_set else \
            decoder_config(args.decoder or "greedy", args.decoder_set)
        recognizer = Recognizer.from_checkpoint(args.checkpoint, args.device, decoder=decoder,
                                                batch_size=args.batch_size)
        if args.plot is not None:
            make_plot_dir(args.plot)
    except RecogError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    files = list(expand_paths(args.paths, recognizer.preprocessor.file_suffixes))
    if not files:
        print(f"error: no {recognizer.preprocessor.modality} files found in the given paths (this model reads "
              f"{', '.join(sorted(recognizer.preprocessor.file_suffixes))})", file=sys.stderr)
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
        if transcript.alignment_error is not None:
            print(f"warning: {transcript.path}: not aligned: {transcript.alignment_error}", file=sys.stderr)
        plot = (save_plot(recognizer, transcript, args.plot)
                if args.plot is not None and transcript.alignment is not None else None)
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

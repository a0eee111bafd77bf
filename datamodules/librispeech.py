"""LibriSpeech in its original layout: utterance records for a list of subsets, and the data module over them.

    <root>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac
    <root>/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   one "<utt-id> <TRANSCRIPT>" per line

`root` is the folder that holds the subset folders (the archives unpack to `LibriSpeech/`). Transcripts are
upper case with apostrophes and no other punctuation, so ENGLISH_SPEECH_SYMBOLS covers them. Subsets stay
named on each record: test-clean and test-other are scored separately, never merged.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from datamodules.speech import SpeechDataModule
from datamodules.utterances import Utterance, drop_longer_than, header_duration
from recog.errors import DataError, read_utf8_lines

AUDIO_SUFFIX = ".flac"


class TranscriptFormatError(DataError):
    pass


def read_librispeech(root: str | Path, subsets: Sequence[str], max_duration: float | None = None
                     ) -> list[Utterance]:
    """Every utterance of the given subsets, in subset then file order; longer than `max_duration` seconds
    dropped. Raises DataError for a missing subset folder, TranscriptFormatError (file:line) for a bad row."""
    root = Path(root)
    utterances, first_seen = [], {}
    for subset in subsets:
        for transcript_file in transcript_files(root, subset):
            for number, utterance in read_transcript_file(transcript_file, subset):
                where = f"{transcript_file}:{number}"
                if utterance.id in first_seen:
                    raise TranscriptFormatError(f"{where}: utterance {utterance.id} already listed at "
                                                f"{first_seen[utterance.id]}")
                first_seen[utterance.id] = where
                utterances.append(utterance)
    return drop_longer_than(utterances, max_duration, f"{root} {', '.join(subsets)}")


def transcript_files(root: Path, subset: str) -> list[Path]:
    """The subset's `<speaker>/<chapter>/*.trans.txt` files, sorted; a clear error if there are none."""
    folder = root / subset
    if not folder.is_dir():
        present = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else None
        found = f"subsets present: {present}" if present is not None else f"{root} does not exist"
        raise DataError(f"{folder}: no such LibriSpeech subset folder ({found})")
    files = sorted(folder.glob("*/*/*.trans.txt"))
    if not files:
        raise DataError(f"{folder}: no <speaker>/<chapter>/<speaker>-<chapter>.trans.txt files; is it a "
                        "LibriSpeech subset folder?")
    return files


def read_transcript_file(path: Path, subset: str) -> list[tuple[int, Utterance]]:
    """(line number, utterance) for each non-blank row of one chapter's trans.txt."""
    chapter_id = path.name.removesuffix(".trans.txt")  # "<speaker>-<chapter>"
    speaker = chapter_id.split("-")[0]
    rows = []
    for number, line in enumerate(read_utf8_lines(path), start=1):
        if not line.strip():
            continue
        utterance_id, text = parse_row(line, chapter_id, f"{path}:{number}")
        audio_path = path.parent / f"{utterance_id}{AUDIO_SUFFIX}"
        rows.append((number, Utterance(utterance_id, audio_path, text, speaker=speaker, subset=subset,
                                       duration=header_duration(audio_path))))
    return rows


def parse_row(line: str, chapter_id: str, where: str) -> tuple[str, str]:
    """`<speaker>-<chapter>-<utt> <TRANSCRIPT>` -> (id, transcript); the id must belong to this file's chapter."""
    fields = line.strip().split(maxsplit=1)
    utterance_id = fields[0]
    prefix, _, utterance_number = utterance_id.rpartition("-")
    if prefix != chapter_id or not utterance_number.isdigit():
        raise TranscriptFormatError(f"{where}: {utterance_id!r} is not an utterance id of this file's chapter "
                                    f"({chapter_id}-<number>); rows are '<utterance-id> <TRANSCRIPT>'")
    if len(fields) < 2:
        raise TranscriptFormatError(f"{where}: no transcript after the utterance id {utterance_id}")
    return utterance_id, fields[1]


class LibriSpeechDataModule(SpeechDataModule):
    """LibriSpeech subsets per split, e.g. splits={train: [train-clean-100], val: [dev-clean], test: [...]};
    utterances longer than `max_duration` seconds are dropped."""

    split_hint = "a list of LibriSpeech subsets, e.g. [dev-clean]"

    def __init__(self, root: str, splits: dict[str, Sequence[str] | None], max_duration: float | None = None,
                 **settings):
        super().__init__(**settings)
        self.root = Path(root)
        self.split_subsets = {name: list(subsets) for name, subsets in splits.items() if subsets}
        self.max_duration = max_duration

    def setup_evaluation(self, preprocessor, normalizer, split: str) -> None:
        """Scoring reads only the scored split's subsets, and every utterance of them: the duration filter is
        for training only."""
        self.max_duration = None
        if split in self.split_subsets:
            self.split_subsets = {split: self.split_subsets[split]}
        super().setup_evaluation(preprocessor, normalizer, split)

    def read_splits(self) -> dict[str, list[Utterance]]:
        return {name: read_librispeech(self.root, subsets, self.max_duration)
                for name, subsets in self.split_subsets.items()}

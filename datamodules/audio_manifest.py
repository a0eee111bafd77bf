"""Any speech corpus described by a manifest (one utterance per row, TSV or JSON Lines), and its data module.

- `.tsv`: UTF-8, tab-separated, a header row naming the columns.
- `.jsonl` (or `.json`): one JSON object per line (NeMo's manifests are read as they are).

Fields: the audio path (`path`, `audio` or `audio_filepath`), relative to the manifest's folder unless
absolute; the transcript (`text` or `transcript`); optionally `duration` in seconds (read from the audio
header when absent) and `speaker` (or `speaker_id`), for speaker-disjoint splits. The utterance id is the
path as written in the manifest.
"""
from __future__ import annotations

import csv
import json
import math
from pathlib import Path

from datamodules.speech import SpeechDataModule
from datamodules.utterances import Utterance, drop_longer_than, header_duration
from recog.errors import DataError, read_utf8_lines

PATH_KEYS = ("path", "audio", "audio_filepath")
TEXT_KEYS = ("text", "transcript")
SPEAKER_KEYS = ("speaker", "speaker_id")


class AudioManifestError(DataError):
    pass


def read_audio_manifest(path: str | Path, max_duration: float | None = None) -> list[Utterance]:
    """The manifest's utterances in file order, longer than `max_duration` seconds dropped."""
    path = Path(path)
    if path.suffix == ".tsv":
        records = read_tsv_records(path)
    elif path.suffix in (".jsonl", ".json"):
        records = read_jsonl_records(path)
    else:
        raise AudioManifestError(f"{path}: unknown manifest type {path.suffix!r}; use .tsv or .jsonl")
    utterances, first_seen = [], {}
    for number, record in records:
        utterance = to_utterance(record, path, number)
        if utterance.id in first_seen:
            raise AudioManifestError(f"{path}:{number}: {utterance.id} already listed on line "
                                     f"{first_seen[utterance.id]}")
        first_seen[utterance.id] = number
        utterances.append(utterance)
    return drop_longer_than(utterances, max_duration, str(path))


def read_tsv_records(path: Path) -> list[tuple[int, dict]]:
    """(line number, {column: value}) for each non-blank row after the header."""
    rows = list(csv.reader(read_utf8_lines(path), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise AudioManifestError(f"{path}: empty manifest")
    header = rows[0]
    records = []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise AudioManifestError(f"{path}:{number}: {len(row)} fields, the header has {len(header)} "
                                     "(the manifest must be tab-separated)")
        records.append((number, dict(zip(header, row))))
    return records


def read_jsonl_records(path: Path) -> list[tuple[int, dict]]:
    """(line number, object) for each non-blank line."""
    records = []
    for number, line in enumerate(read_utf8_lines(path), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise AudioManifestError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise AudioManifestError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
        records.append((number, record))
    return records


def to_utterance(record: dict, manifest: Path, number: int) -> Utterance:
    where = f"{manifest}:{number}"
    audio = str(field(record, PATH_KEYS, where))
    text = field(record, TEXT_KEYS, where)
    if not isinstance(text, str):
        raise AudioManifestError(f"{where}: the transcript must be a string, got {text!r}")
    speaker = next((str(record[k]) for k in SPEAKER_KEYS if record.get(k) not in (None, "")), None)
    audio_path = manifest.parent / audio
    duration = parse_duration(record.get("duration"), where)
    return Utterance(audio, audio_path, text, speaker=speaker,
                     duration=header_duration(audio_path) if duration is None else duration)


def field(record: dict, keys: tuple[str, ...], where: str):
    """The value of the first of `keys` present in the record."""
    for key in keys:
        if key in record:
            return record[key]
    raise AudioManifestError(f"{where}: no {' / '.join(keys)} field (fields: {sorted(record)})")


def parse_duration(value, where: str) -> float | None:
    """A duration in seconds from the manifest; None when absent or empty (then the header is read)."""
    if value is None or value == "":
        return None
    try:
        duration = float(value)
    except (TypeError, ValueError):
        raise AudioManifestError(f"{where}: duration {value!r} is not a number of seconds") from None
    if not (math.isfinite(duration) and duration >= 0):
        raise AudioManifestError(f"{where}: duration {value!r} must be a non-negative number of seconds")
    return duration


class AudioManifestDataModule(SpeechDataModule):
    """One manifest per split, e.g. manifests={train: train.jsonl, val: dev.tsv}; utterances longer than
    `max_duration` seconds are dropped."""

    split_hint = "a .tsv or .jsonl manifest"

    def __init__(self, manifests: dict[str, str | None], max_duration: float | None = None, **settings):
        super().__init__(**settings)
        self.manifests = {name: Path(path) for name, path in manifests.items() if path}
        self.max_duration = max_duration

    def read_splits(self) -> dict[str, list[Utterance]]:
        return {name: read_audio_manifest(path, self.max_duration) for name, path in self.manifests.items()}

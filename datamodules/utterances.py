"""What every speech corpus reader returns: utterance records, with durations read from the audio headers.

A reader (LibriSpeech, an audio manifest) only lists utterances; it never decodes audio. The duration comes
from the file header (cheap, and it finds missing and unreadable files before training). An utterance whose
header cannot be read keeps `duration=None`: whether it is skipped or fatal is the data module's decision
(its on_bad_sample switch, case B16), and the data check lists it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import soundfile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Utterance:
    id: str
    audio_path: Path
    text: str
    speaker: str | None = None
    subset: str | None = None  # the corpus part it came from, e.g. "dev-clean", so results can be kept apart
    duration: float | None = None  # seconds, from the header; None if the header cannot be read

    @property
    def input_path(self) -> Path:
        """The file the model reads (every sample type has one: see LineSample)."""
        return self.audio_path


def header_duration(path: Path) -> float | None:
    """Duration in seconds from the audio header, or None if the file is missing or not readable audio."""
    try:
        return soundfile.info(str(path)).duration
    except (soundfile.SoundFileError, RuntimeError, OSError):
        return None


def drop_longer_than(utterances: list[Utterance], max_duration: float | None, source: str) -> list[Utterance]:
    """Utterances of at most `max_duration` seconds (all when None); unreadable ones are kept for the data
    module's bad-sample policy. Logs how many were dropped from `source`."""
    if max_duration is None:
        return utterances
    kept = [u for u in utterances if u.duration is None or u.duration <= max_duration]
    if len(kept) < len(utterances):
        log.info("%s: dropped %d of %d utterances longer than %g s", source, len(utterances) - len(kept),
                 len(utterances), max_duration)
    return kept

"""Synthetic spoken English in the LibriSpeech layout: the built-in speech data, spoken by eSpeak NG.

    <root>/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>-<utt>.flac   16 kHz, 16-bit
    <root>/LibriSpeech/<subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt
    <root>/LibriSpeech/SPEAKERS.TXT                                                 speaker id -> voice

A speaker is one eSpeak voice: an English accent with a voice variant ("en-us+f2"), with its own speaking
rate, pitch and pitch range. Each subset (train, dev, test) has its own speakers, so dev and test measure
recognition of voices never heard in training. Sentences come from the English-like text generator of the
synthetic lines (`synthetic_text`), keeping only the words that are spoken as written (no digits, symbols,
abbreviations or all-capital codes), so a transcript is exactly what is said, over the 28 symbols of
LibriSpeech (A-Z, apostrophe, space). Every utterance's rate and pitch vary around its speaker's, and white
noise at a random signal-to-noise ratio is added.

Everything about a speaker's utterances derives from (seed, speaker id, utterance number) alone. eSpeak's
waveform generator carries state from one utterance to the next, so each speaker is spoken by a fresh worker
process, in utterance order: the data set is byte-identical for a seed, whatever the number of workers.
"""
from __future__ import annotations

import multiprocessing
import os
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio

from datamodules.cache import build_once
from datamodules.espeak import Prosody, espeak
from datamodules.synthetic_text import TITLES, generate_text_line
from recog.errors import ConfigError

# Bump when the generated data change, so that old data sets are not reused.
GENERATOR_VERSION = 1

SAMPLE_RATE = 16000
SUBSETS = ("train", "dev", "test")
ACCENTS = ("en", "en-us", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
           "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
            "klatt3", "Andy", "Annie", "max", "steph", "linda")
FIRST_SPEAKER_ID = 100  # speaker id = FIRST_SPEAKER_ID + the voice's index in voice_pool()
CHAPTER_ID = 1  # one chapter per speaker
MIN_WORDS = 2
# Spoken otherwise than written ("Mr." is "mister"), so never put in a transcript.
ABBREVIATIONS = frozenset(title.rstrip(".").upper() for title in TITLES if title.endswith(".")) | {"ETC"}
SPOKEN_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")

SPEAKER_RATE_WPM = (140, 200)  # each speaker's speaking rate, words per minute
SPEAKER_PITCH = (25, 75)  # eSpeak pitch 0-100 around the variant's own (50)
SPEAKER_RANGE = (20, 80)  # pitch range 0-100: monotonous to lively
UTTERANCE_RATE_FACTOR = (0.9, 1.1)  # each utterance's rate around its speaker's
UTTERANCE_PITCH_SHIFT = 8  # each utterance's pitch within +-8 of its speaker's
SNR_DB = (15.0, 40.0)  # white noise, signal-to-noise ratio over the whole utterance
PEAK_LEVEL = (0.25, 0.9)  # peak amplitude, of full scale


@dataclass(frozen=True)
class Speaker:
    id: int
    voice: str  # eSpeak voice: accent + variant, e.g. "en-us+f2"
    subset: str


@dataclass(frozen=True)
class SpeakerTask:
    """What a worker process needs to speak one speaker's utterances into `folder`."""

    speaker: Speaker
    num_utterances: int
    seed: int
    folder: Path  # the LibriSpeech folder of the data set being written


def voice_pool() -> list[str]:
    """Every accent with every variant, in a fixed order: the possible speakers."""
    return [f"{accent}+{variant}" for accent in ACCENTS for variant in VARIANTS]


def assign_speakers(speakers: dict[str, int], seed: int) -> list[Speaker]:
    """Draw `speakers[subset]` voices for each subset from the pool, no voice in two subsets."""
    pool = voice_pool()
    order = list(range(len(pool)))
    random.Random(f"speakers-{seed}").shuffle(order)
    assigned, start = [], 0
    for subset in SUBSETS:
        chosen = order[start:start + speakers.get(subset, 0)]
        assigned += [Speaker(FIRST_SPEAKER_ID + index, pool[index], subset) for index in sorted(chosen)]
        start += len(chosen)
    return assigned


def generate_librispeech_layout(root: str | Path, speakers: dict[str, int], utterances_per_speaker: dict[str, int],
                                seed: int = 0, workers: int | None = None) -> Path:
    """Write the data set under root (returned at once if root already holds it with these parameters);
    the LibriSpeech reader's root is root/LibriSpeech. `workers` processes speak (default: one per core)."""
    parameters = {"generator_version": GENERATOR_VERSION, "speakers": dict(speakers),
                  "utterances_per_speaker": dict(utterances_per_speaker), "seed": seed}
    check_sizes(speakers, utterances_per_speaker)

    def write(folder: Path) -> None:
        tasks = [SpeakerTask(speaker, utterances_per_speaker[speaker.subset], seed, folder / "LibriSpeech")
                 for speaker in assign_speakers(speakers, seed)]
        write_speakers_file(folder / "LibriSpeech" / "SPEAKERS.TXT", [task.speaker for task in tasks])
        speak_in_fresh_processes(tasks, workers or len(os.sched_getaffinity(0)))

    return build_once(root, parameters, write)


def check_sizes(speakers: dict[str, int], utterances_per_speaker: dict[str, int]) -> None:
    unknown = sorted(set(speakers) - set(SUBSETS))
    if unknown:
        raise ConfigError(f"data.speakers: unknown subsets {unknown}; the subsets are {', '.join(SUBSETS)}")
    for subset, count in speakers.items():
        if count < 0 or (count and utterances_per_speaker.get(subset, 0) < 1):
            raise ConfigError(f"data.speakers.{subset} must be >= 0, with data.utterances_per_speaker.{subset} "
                              ">= 1 when it is not 0")
    if sum(speakers.values()) > len(voice_pool()):
        raise ConfigError(f"data.speakers: {sum(speakers.values())} voices asked for; there are "
                          f"{len(voice_pool())} ({len(ACCENTS)} accents x {len(VARIANTS)} variants)")


def write_speakers_file(path: Path, speakers: list[Speaker]) -> None:
    rows = [f"{speaker.id:<5}| {speaker.subset:<6}| {speaker.voice}\n" for speaker in speakers]
    path.parent.mkdir(parents=True)
    path.write_text("; ID  | SUBSET| ESPEAK VOICE (accent+variant)\n" + "".join(rows), encoding="utf-8")


def speak_in_fresh_processes(tasks: list[SpeakerTask], workers: int) -> None:
    """Run each task in a process of its own (fresh eSpeak state), `workers` at a time. The processes fork
    from a server that has this module imported but has never loaded eSpeak or run torch."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["__main__", __name__])  # children skip re-importing the main script
    with context.Pool(min(workers, len(tasks)), maxtasksperchild=1) as pool:
        for done, _ in enumerate(pool.imap_unordered(speak_speaker, tasks, chunksize=1), start=1):
            if done % max(1, len(tasks) // 10) == 0 or done == len(tasks):
                print(f"synthetic speech: {done}/{len(tasks)} speakers", file=sys.stderr, flush=True)


def speak_speaker(task: SpeakerTask) -> None:
    """Write one speaker's chapter: FLAC files and the chapter's trans.txt (in a worker process)."""
    torch.set_num_threads(1)
    speaker = task.speaker
    chapter = task.folder / speaker.subset / str(speaker.id) / str(CHAPTER_ID)
    chapter.mkdir(parents=True)
    style = speaker_prosody(speaker, task.seed)
    rows = []
    for number in range(task.num_utterances):
        utterance_id = f"{speaker.id}-{CHAPTER_ID}-{number:04d}"
        transcript, samples = synthesize_utterance(speaker, style, task.seed, number)
        soundfile.write(chapter / f"{utterance_id}.flac", samples, SAMPLE_RATE, format="FLAC", subtype="PCM_16")
        rows.append(f"{utterance_id} {transcript}\n")
    (chapter / f"{speaker.id}-{CHAPTER_ID}.trans.txt").write_text("".join(rows), encoding="utf-8")


def speaker_prosody(speaker: Speaker, seed: int) -> Prosody:
    rng = random.Random(f"{seed}/{speaker.id}")
    return Prosody(rate=rng.randint(*SPEAKER_RATE_WPM), pitch=rng.randint(*SPEAKER_PITCH),
                   range=rng.randint(*SPEAKER_RANGE))


def synthesize_utterance(speaker: Speaker, style: Prosody, seed: int, number: int) -> tuple[str, np.ndarray]:
    """Transcript and int16 samples (samples,) at SAMPLE_RATE of the speaker's utterance `number`."""
    text_seed, voice_seed, noise_seed = np.random.SeedSequence([seed, speaker.id, number]).generate_state(3)
    transcript = spoken_sentence(random.Random(int(text_seed)))
    rng = random.Random(int(voice_seed))
    prosody = Prosody(rate=round(style.rate * rng.uniform(*UTTERANCE_RATE_FACTOR)),
                      pitch=min(100, max(0, style.pitch + rng.randint(-UTTERANCE_PITCH_SHIFT, UTTERANCE_PITCH_SHIFT))),
                      range=style.range)
    synthesiser = espeak()
    spoken = synthesiser.synthesize(transcript.lower(), speaker.voice, prosody, seed=int(voice_seed) % 2**31)
    waveform = torchaudio.functional.resample(torch.from_numpy(spoken.astype(np.float32) / 32768),
                                              synthesiser.sample_rate, SAMPLE_RATE).numpy()
    return transcript, add_noise_and_level(waveform, rng, np.random.default_rng(int(noise_seed)))


def add_noise_and_level(waveform: np.ndarray, rng: random.Random, noise_rng: np.random.Generator) -> np.ndarray:
    """White noise at a random SNR, then scaled to a random peak level -> int16 samples."""
    signal_power = float(np.mean(waveform.astype(np.float64) ** 2))
    noise_power = signal_power / 10 ** (rng.uniform(*SNR_DB) / 10)
    noisy = waveform + np.sqrt(noise_power) * noise_rng.standard_normal(len(waveform))
    peak = float(np.abs(noisy).max()) or 1.0
    return np.rint(noisy * (rng.uniform(*PEAK_LEVEL) * 32767 / peak)).astype(np.int16)


def spoken_sentence(rng: random.Random) -> str:
    """An upper-case transcript of at least MIN_WORDS words, each spoken as it is written."""
    while True:
        words = spoken_words(generate_text_line(rng))
        if len(words) >= MIN_WORDS:
            return " ".join(words)


def spoken_words(line: str) -> list[str]:
    """The words of a text line that eSpeak says as written, upper case; hyphenated words count as two.

    Dropped: tokens with digits or symbols ("$3.45", "QX-47", "&"), abbreviations ("Dr."), and all-capital
    words of two or more letters (acronyms such as "BBC" are spelled out, codes such as "QX" too).
    """
    words = []
    for token in line.replace("-", " ").split():
        word = token.strip("\"'.,;:!?()[]")
        if (SPOKEN_WORD.fullmatch(word) and word.upper() not in ABBREVIATIONS
                and not (len(word) > 1 and word.isupper())):
            words.append(word.upper())
    return words


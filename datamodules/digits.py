"""Connected-digit utterances ("THREE ONE FOUR ONE FIVE") joined from real recordings of single spoken digits,
the Free Spoken Digit Dataset (FSDD), and the data module that trains on them.

The source folder (../shared/data/fsdd; see its PROVENANCE.md):

    <root>/transcripts.tsv                            tab-separated, header: path speaker digit word index ...
    <root>/recordings/{digit}_{speaker}_{index}.flac  8 kHz mono, trimmed to near-minimal silence

Each split names its speakers and a range of takes (FSDD's `index`; FSDD keeps takes 0-4 of every speaker as
its test takes). An utterance joins 2-7 recordings of one speaker of its split, drawn with replacement, with a
random pause before, between and after the digits, under white noise at a random signal-to-noise ratio.
Everything about utterance i of a split derives from (generator_seed, split, i) alone: the data are
reproducible, and a larger count keeps the first utterances. Augmentations that should differ every epoch
(speed perturbation, SpecAugment) are the speech data module's, applied on loading.

The utterances are generated once into a cache folder (FLAC at the source rate and one manifest per split,
published atomically by datamodules/cache.py) and then read by the audio manifest reader like any corpus;
loading resamples them to the model's rate. Reading a cached utterance costs one small FLAC decode, so the
data loader costs what it costs for any corpus; generation takes seconds per thousand utterances.
"""
from __future__ import annotations

import hashlib
import json
import logging
import zlib
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import soundfile
from hydra.utils import to_absolute_path

from datamodules.audio_manifest import AudioManifestDataModule
from datamodules.cache import build_once, default_cache_dir
from recog.audio import AudioReadError, load_audio
from recog.errors import ConfigError, DataError, read_utf8_lines

log = logging.getLogger(__name__)

GENERATOR_VERSION = 2  # bump when the generated audio changes, so that old caches are not reused
SOURCE_RATE = 8000  # FSDD's rate; utterances are written at it and resampled on loading
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
REQUIRED_COLUMNS = ("path", "speaker", "digit", "index")
TRANSCRIPTS = "transcripts.tsv"


class FSDDFormatError(DataError):
    pass


@dataclass(frozen=True)
class Recording:
    """One recording of one spoken digit; `take` is FSDD's index (0-49 per speaker and digit)."""

    path: Path
    speaker: str
    digit: int
    take: int

    @property
    def word(self) -> str:
        return DIGIT_WORDS[self.digit]


def read_fsdd(root: str | Path) -> list[Recording]:
    """The recordings listed in <root>/transcripts.tsv, in file order; errors name the file, line and fix."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; set data.root to the FSDD folder that holds {TRANSCRIPTS} and "
                        "recordings/ (../shared/data/fsdd beside the repository)")
    path = root / TRANSCRIPTS
    if not path.is_file():
        raise DataError(f"{path}: no such file; data.root must be the FSDD folder that holds {TRANSCRIPTS} "
                        "(columns path, speaker, digit, word, index, duration_s; see its PROVENANCE.md)")
    lines = read_utf8_lines(path)
    header = lines[0].split("\t") if lines else []
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise FSDDFormatError(f"{path}:1: the header lacks the column(s) {missing}; expected a tab-separated "
                              f"header naming {', '.join(REQUIRED_COLUMNS)} (and word)")
    recordings, first_seen = [], {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        recording = parse_row(line.split("\t"), header, root, f"{path}:{number}")
        if recording.path in first_seen:
            raise FSDDFormatError(f"{path}:{number}: {recording.path} already listed on line "
                                  f"{first_seen[recording.path]}")
        first_seen[recording.path] = number
        recordings.append(recording)
    return recordings


def parse_row(fields: list[str], header: list[str], root: Path, where: str) -> Recording:
    if len(fields) != len(header):
        raise FSDDFormatError(f"{where}: {len(fields)} fields, the header has {len(header)} (the file must be "
                              "tab-separated)")
    row = dict(zip(header, fields))
    digit = parse_int(row["digit"], "digit", where)
    if not 0 <= digit <= 9:
        raise FSDDFormatError(f"{where}: digit {digit} is not one of 0-9")
    if "word" in row and row["word"].strip().lower() != DIGIT_WORDS[digit]:
        raise FSDDFormatError(f"{where}: word {row['word']!r} does not name digit {digit} "
                              f"({DIGIT_WORDS[digit]!r}); correct the row")
    take = parse_int(row["index"], "index", where)
    if take < 0 or not row["speaker"] or not row["path"]:
        raise FSDDFormatError(f"{where}: needs a path, a speaker and an index >= 0")
    return Recording(root / row["path"], row["speaker"], digit, take)


def parse_int(value: str, column: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise FSDDFormatError(f"{where}: {column} {value!r} is not an integer") from None


@dataclass(frozen=True)
class SplitSpec:
    """Which recordings a split draws from (its speakers' takes first..last, inclusive), and how many
    utterances it holds."""

    speakers: tuple[str, ...]
    takes: tuple[int, int]
    utterances: int

    @classmethod
    def from_config(cls, split: str, settings: dict) -> "SplitSpec":
        where = f"data.splits.{split}"
        unknown = set(settings) - {"speakers", "takes", "utterances"}
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}; use speakers, takes and utterances")
        speakers = tuple(settings.get("speakers") or ())
        takes = tuple(settings.get("takes") or (0, 49))
        utterances = settings.get("utterances", 0)
        if not speakers:
            raise ConfigError(f"{where}.speakers: name at least one speaker, e.g. [yweweler]")
        if len(takes) != 2 or not 0 <= takes[0] <= takes[1]:
            raise ConfigError(f"{where}.takes must be [first, last] with 0 <= first <= last, not {list(takes)}")
        if not isinstance(utterances, int) or utterances < 1:
            raise ConfigError(f"{where}.utterances must be a positive integer, not {utterances!r}")
        return cls(speakers, takes, utterances)

    def selects(self, recording: Recording) -> bool:
        return recording.speaker in self.speakers and self.takes[0] <= recording.take <= self.takes[1]


def check_disjoint(specs: dict[str, SplitSpec]) -> None:
    """No recording may serve two splits: the same speaker in two splits needs disjoint takes."""
    names = sorted(specs)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            a, b = specs[first], specs[second]
            shared = sorted(set(a.speakers) & set(b.speakers))
            if shared and a.takes[0] <= b.takes[1] and b.takes[0] <= a.takes[1]:
                raise ConfigError(f"data.splits.{first} and data.splits.{second} share recordings (speakers "
                                  f"{shared}, overlapping takes {list(a.takes)} and {list(b.takes)}); give them "
                                  "other speakers or disjoint takes")


@dataclass(frozen=True)
class GeneratorSettings:
    min_digits: int = 2
    max_digits: int = 7
    min_pause: float = 0.05  # seconds before, between and after the digits
    max_pause: float = 0.4
    noise_snr_db: tuple[float, float] | None = None  # white noise: range of speech-to-noise ratios; None = none

    def __post_init__(self) -> None:
        if not 1 <= self.min_digits <= self.max_digits:
            raise ConfigError(f"data.min_digits={self.min_digits} and data.max_digits={self.max_digits} need "
                              "1 <= min_digits <= max_digits")
        if not 0 <= self.min_pause <= self.max_pause:
            raise ConfigError(f"data.min_pause={self.min_pause} and data.max_pause={self.max_pause} need "
                              "0 <= min_pause <= max_pause (seconds)")
        bounds = self.noise_snr_db
        if bounds is not None and (len(bounds) != 2 or bounds[0] > bounds[1]):
            raise ConfigError("data.noise_snr_db must be [low, high] in dB with low <= high, or null")

    def pause_bounds(self) -> tuple[int, int]:
        """Shortest and longest pause in samples at the source rate."""
        return round(self.min_pause * SOURCE_RATE), round(self.max_pause * SOURCE_RATE)


@dataclass(frozen=True)
class UtterancePlan:
    """What one utterance is made of; drawn by `plan_utterance`, turned into audio by `render`."""

    speaker: str
    recordings: tuple[Recording, ...]
    pauses: tuple[int, ...]  # samples at the source rate before, between and after the digits (len + 1)
    snr_db: float | None  # None = no noise
    noise_seed: int

    @property
    def text(self) -> str:
        return " ".join(recording.word.upper() for recording in self.recordings)


def plan_utterance(pool: dict[str, list[Recording]], settings: GeneratorSettings,
                   rng: np.random.Generator) -> UtterancePlan:
    """One speaker of the pool (speaker -> recordings), then 2-7 of their recordings with pauses."""
    speaker = sorted(pool)[rng.integers(len(pool))]
    count = int(rng.integers(settings.min_digits, settings.max_digits + 1))
    recordings = tuple(pool[speaker][i] for i in rng.integers(len(pool[speaker]), size=count))
    shortest, longest = settings.pause_bounds()
    pauses = tuple(int(p) for p in rng.integers(shortest, longest + 1, size=count + 1))
    snr_db = round(float(rng.uniform(*settings.noise_snr_db)), 1) if settings.noise_snr_db else None
    return UtterancePlan(speaker, recordings, pauses, snr_db, int(rng.integers(2**62)))


def render(plan: UtterancePlan, waveforms: dict[Path, np.ndarray]) -> np.ndarray:
    """The utterance's samples (float32, source rate, within [-1, 1]): pause, digit, pause, ..., digit, pause."""
    digits = [waveforms[recording.path] for recording in plan.recordings]
    pieces = [np.zeros(plan.pauses[0], dtype=np.float32)]
    for digit, pause in zip(digits, plan.pauses[1:]):
        pieces += [digit, np.zeros(pause, dtype=np.float32)]
    samples = np.concatenate(pieces)
    if plan.snr_db is not None:
        speech_rms = float(np.sqrt(np.mean(np.concatenate(digits) ** 2)))
        noise = np.random.default_rng(plan.noise_seed).standard_normal(len(samples)).astype(np.float32)
        samples = samples + noise * speech_rms * 10 ** (-plan.snr_db / 20)
    return np.clip(samples, -1.0, 1.0)


def split_seed(seed: int, split: str, index: int) -> np.random.Generator:
    """The random source of utterance `index` of `split`, independent of every other utterance."""
    return np.random.default_rng([seed, zlib.crc32(split.encode()), index])


def load_pool(recordings: list[Recording], on_bad_sample: str) -> dict[Path, np.ndarray]:
    """Each recording's samples at the source rate; an unreadable one is dropped with a warning (or raises
    when on_bad_sample is "fail")."""
    waveforms = {}
    for recording in recordings:
        try:
            waveforms[recording.path] = load_audio(recording.path, SOURCE_RATE).numpy()
        except AudioReadError as error:
            if on_bad_sample == "fail":
                raise
            log.warning("skipping recording %s", error)
    return waveforms


def split_pool(recordings: list[Recording], spec: SplitSpec, split: str) -> dict[str, list[Recording]]:
    """speaker -> the split's recordings of that speaker; every speaker of the spec must have some."""
    pool = {speaker: [r for r in recordings if r.speaker == speaker and spec.selects(r)]
            for speaker in spec.speakers}
    empty = [speaker for speaker, selected in pool.items() if not selected]
    if empty:
        present = sorted({r.speaker for r in recordings})
        raise DataError(f"data.splits.{split}: no usable recordings of speaker(s) {empty} with takes "
                        f"{list(spec.takes)} (speakers present: {present})")
    return pool


def write_split(folder: Path, split: str, pool: dict[str, list[Recording]], count: int,
                waveforms: dict[Path, np.ndarray], settings: GeneratorSettings, seed: int, root: Path) -> None:
    """<folder>/<split>/<speaker>-<index>.flac and <folder>/<split>.tsv (path, text, duration, speaker,
    sources: the recordings joined, relative to the source folder)."""
    (folder / split).mkdir()
    rows = ["path\ttext\tduration\tspeaker\tsources"]
    for index in range(count):
        plan = plan_utterance(pool, settings, split_seed(seed, split, index))
        samples = render(plan, waveforms)
        audio = f"{split}/{plan.speaker}-{index:05d}.flac"
        soundfile.write(folder / audio, samples, SOURCE_RATE, format="FLAC", subtype="PCM_16")
        sources = " ".join(str(r.path.relative_to(root)) for r in plan.recordings)
        rows.append(f"{audio}\t{plan.text}\t{len(samples) / SOURCE_RATE:.6f}\t{plan.speaker}\t{sources}")
    (folder / f"{split}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def generate_digit_strings(root: Path, specs: dict[str, SplitSpec], settings: GeneratorSettings, seed: int,
                           cache_dir: Path, on_bad_sample: str = "skip") -> Path:
    """The cached data set for these parameters (generated if need be): one manifest <split>.tsv per split."""
    recordings = read_fsdd(root)
    check_disjoint(specs)
    for split, spec in specs.items():
        split_pool(recordings, spec, split)  # every speaker has recordings: say so before generating
    parameters = {"generator_version": GENERATOR_VERSION, "seed": seed, "settings": asdict(settings),
                  "splits": {split: asdict(spec) for split, spec in specs.items()},
                  "source": hashlib.sha256((root / TRANSCRIPTS).read_bytes()).hexdigest()}
    digest = hashlib.sha256(json.dumps(parameters, sort_keys=True).encode()).hexdigest()[:12]

    write = partial(write_dataset, recordings=recordings, specs=specs, settings=settings, seed=seed,
                    on_bad_sample=on_bad_sample, root=root)
    return build_once(cache_dir / f"fsdd-digits-v{GENERATOR_VERSION}-{digest}", parameters, write)


def write_dataset(folder: Path, recordings: list[Recording], specs: dict[str, SplitSpec],
                  settings: GeneratorSettings, seed: int, on_bad_sample: str, root: Path) -> None:
    """Every split's utterances and manifest under `folder`, from the recordings that can be read."""
    selected = [r for r in recordings if any(spec.selects(r) for spec in specs.values())]
    waveforms = load_pool(selected, on_bad_sample)
    for split, spec in specs.items():
        usable = split_pool([r for r in selected if r.path in waveforms], spec, split)
        write_split(folder, split, usable, spec.utterances, waveforms, settings, seed, root)
    log.info("generated %s", ", ".join(f"{spec.utterances} {split}" for split, spec in specs.items()))


class DigitsDataModule(AudioManifestDataModule):
    """Connected digits from FSDD, splits by speaker (and take), e.g.
    splits={train: {speakers: [george, jackson, nicolas], takes: [5, 49], utterances: 3000},
            val: {speakers: [yweweler], takes: [5, 49], utterances: 300}}.
    `root` is the FSDD folder, relative to the directory recog-train was started in."""

    split_hint = "speakers, takes and a count, e.g. {speakers: [yweweler], takes: [5, 49], utterances: 300}"

    def __init__(self, root: str, splits: dict[str, dict | None], generator_seed: int = 0,
                 cache_dir: str | None = None, min_digits: int = 2, max_digits: int = 7, min_pause: float = 0.05,
                 max_pause: float = 0.4, noise_snr_db: list[float] | None = None, **settings):
        super().__init__(manifests={}, **settings)
        self.root = Path(to_absolute_path(str(root)))
        self.specs = {split: SplitSpec.from_config(split, spec) for split, spec in splits.items() if spec}
        self.generator = GeneratorSettings(min_digits, max_digits, min_pause, max_pause,
                                           tuple(noise_snr_db) if noise_snr_db else None)
        self.generator_seed = generator_seed
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()

    def prepare_data(self) -> None:
        """Generate the utterances unless the cache already holds them."""
        dataset = generate_digit_strings(self.root, self.specs, self.generator, self.generator_seed,
                                         self.cache_dir, self.on_bad_sample)
        self.manifests = {split: dataset / f"{split}.tsv" for split in self.specs}

    def read_splits(self) -> dict:
        self.prepare_data()  # returns at once when generated: setup may run in a process that skipped it
        self.log_unseen_speakers()
        return super().read_splits()

    def log_unseen_speakers(self) -> None:
        seen = set(self.specs["train"].speakers) if "train" in self.specs else set()
        for split, spec in self.specs.items():
            if split != "train":
                unseen = [s for s in spec.speakers if s not in seen]
                log.info("%s speakers %s; never seen in training: %s", split, list(spec.speakers), unseen)

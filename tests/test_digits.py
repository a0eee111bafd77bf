"""Connected digits from FSDD recordings: the transcripts.tsv reader, the utterance generator and the data
module, on a tiny fake FSDD folder of generated WAVs (and on ../shared/data/fsdd when it is present)."""
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from datamodules.digits import (DIGIT_WORDS, SOURCE_RATE, DigitsDataModule, FSDDFormatError, GeneratorSettings,
                                SplitSpec, check_disjoint, generate_digit_strings, read_fsdd)
from recog.config import CONFIG_DIR
from recog.errors import ConfigError, DataError
from tests.conftest import shared_path

SPEAKERS = ("ann", "bob", "cid")
TAKES = 3
HEADER = "path\tspeaker\tdigit\tword\tindex\tduration_s"
SPLITS = {"train": {"speakers": ["ann", "bob"], "takes": [0, 2], "utterances": 12},
          "val": {"speakers": ["cid"], "takes": [1, 2], "utterances": 5},
          "test": {"speakers": ["cid"], "takes": [0, 0], "utterances": 3}}
PAUSES = {"min_pause": 0.01, "max_pause": 0.03}


def recording_samples(speaker: int, digit: int, take: int) -> np.ndarray:
    """A never-silent signal whose length identifies the recording: 400 + 40 * digit + 4 * take + speaker."""
    length = 400 + 40 * digit + 4 * take + speaker
    return (0.3 + 0.2 * np.sin(np.arange(length) * (0.05 + 0.01 * digit))).astype(np.float32)


@pytest.fixture(scope="module")
def fsdd(tmp_path_factory) -> Path:
    """A fake FSDD folder: 3 speakers x 10 digits x 3 takes of 8 kHz WAVs, with transcripts.tsv."""
    root = tmp_path_factory.mktemp("fsdd")
    (root / "recordings").mkdir()
    rows = [HEADER]
    for s, speaker in enumerate(SPEAKERS):
        for digit, word in enumerate(DIGIT_WORDS):
            for take in range(TAKES):
                path = f"recordings/{digit}_{speaker}_{take}.wav"
                samples = recording_samples(s, digit, take)
                soundfile.write(root / path, samples, SOURCE_RATE, subtype="PCM_16")
                rows.append(f"{path}\t{speaker}\t{digit}\t{word}\t{take}\t{len(samples) / SOURCE_RATE:.4f}")
    (root / "transcripts.tsv").write_text("\n".join(rows) + "\n")
    return root


def generate(fsdd: Path, cache: Path, seed: int = 0, **settings) -> Path:
    specs = {name: SplitSpec.from_config(name, spec) for name, spec in SPLITS.items()}
    return generate_digit_strings(fsdd, specs, GeneratorSettings(**{**PAUSES, **settings}), seed, cache)


def read_manifest(path: Path) -> list[dict]:
    header, *rows = path.read_text().splitlines()
    return [dict(zip(header.split("\t"), row.split("\t"))) for row in rows]


def runs(samples: np.ndarray) -> list[tuple[bool, int, int]]:
    """(is_silent, start, end) for each maximal run of zero / non-zero samples."""
    silent = samples == 0
    edges = [0] + [i for i in range(1, len(samples)) if silent[i] != silent[i - 1]] + [len(samples)]
    return [(bool(silent[start]), start, end) for start, end in zip(edges, edges[1:])]


def test_reads_every_recording_with_digit_speaker_and_take(fsdd):
    recordings = read_fsdd(fsdd)
    assert len(recordings) == len(SPEAKERS) * 10 * TAKES
    first = recordings[0]
    assert (first.path, first.speaker, first.digit, first.take, first.word) == \
        (fsdd / "recordings/0_ann_0.wav", "ann", 0, 0, "zero")


def test_audio_is_the_transcribed_recordings_joined_by_pauses_within_bounds(fsdd, tmp_path):
    dataset = generate(fsdd, tmp_path)
    for split in SPLITS:
        for row in read_manifest(dataset / f"{split}.tsv"):
            samples, rate = soundfile.read(dataset / row["path"], dtype="float32")
            assert rate == SOURCE_RATE and len(samples) / rate == pytest.approx(float(row["duration"]), abs=1e-6)
            sources = [read_fsdd_name(name) for name in row["sources"].split()]
            assert row["text"] == " ".join(DIGIT_WORDS[digit].upper() for _, digit, _ in sources)
            assert 2 <= len(sources) <= 7
            pieces = runs(samples)
            assert [silent for silent, _, _ in pieces] == [True, False] * len(sources) + [True]
            for (speaker, digit, take), (_, start, end) in zip(sources, pieces[1::2]):
                expected = soundfile.read(fsdd / f"recordings/{digit}_{speaker}_{take}.wav", dtype="float32")[0]
                np.testing.assert_array_equal(samples[start:end], expected)
            assert all(80 <= end - start <= 240 for _, start, end in pieces[::2])  # 0.01-0.03 s at 8 kHz


def read_fsdd_name(path: str) -> tuple[str, int, int]:
    """recordings/{digit}_{speaker}_{take}.wav -> (speaker, digit, take)."""
    digit, speaker, take = Path(path).stem.split("_")
    return speaker, int(digit), int(take)


def test_splits_hold_only_their_speakers_and_takes_one_speaker_per_utterance(fsdd, tmp_path):
    dataset = generate(fsdd, tmp_path)
    for split, spec in SPLITS.items():
        rows = read_manifest(dataset / f"{split}.tsv")
        assert len(rows) == spec["utterances"]
        first, last = spec["takes"]
        for row in rows:
            assert row["speaker"] in spec["speakers"]
            assert {(speaker, first <= take <= last) for speaker, _, take in map(read_fsdd_name,
                                                                                  row["sources"].split())} \
                == {(row["speaker"], True)}


def test_same_seed_same_utterances_other_seed_others(fsdd, tmp_path):
    noisy = {"noise_snr_db": (20.0, 30.0)}
    first = generate(fsdd, tmp_path / "first", seed=3, **noisy)
    again = generate(fsdd, tmp_path / "again", seed=3, **noisy)
    other = generate(fsdd, tmp_path / "other", seed=4, **noisy)
    assert read_manifest(first / "train.tsv") == read_manifest(again / "train.tsv")
    assert read_manifest(first / "train.tsv") != read_manifest(other / "train.tsv")
    for row in read_manifest(first / "train.tsv"):
        np.testing.assert_array_equal(soundfile.read(first / row["path"])[0], soundfile.read(again / row["path"])[0])


def test_a_larger_count_keeps_the_first_utterances(fsdd, tmp_path):
    small = generate(fsdd, tmp_path / "small")
    specs = {"train": SplitSpec.from_config("train", {**SPLITS["train"], "utterances": 20})}
    large = generate_digit_strings(fsdd, specs, GeneratorSettings(**PAUSES), 0, tmp_path / "large")
    assert read_manifest(large / "train.tsv")[:12] == read_manifest(small / "train.tsv")


def test_splits_sharing_recordings_are_refused():
    train = SplitSpec(("ann", "bob"), (5, 49), 10)
    check_disjoint({"train": train, "val": SplitSpec(("bob",), (0, 4), 10)})  # same speaker, other takes
    with pytest.raises(ConfigError, match=r"data.splits.train and data.splits.val share recordings.*\['bob'\]"):
        check_disjoint({"train": train, "val": SplitSpec(("bob", "cid"), (4, 5), 10)})


@pytest.mark.parametrize("spec, message", [
    ({"speakers": [], "utterances": 3}, r"data.splits.val.speakers: name at least one speaker"),
    ({"speakers": ["cid"], "takes": [4, 2], "utterances": 3}, r"takes must be \[first, last\]"),
    ({"speakers": ["cid"], "utterances": 0}, r"utterances must be a positive integer"),
    ({"speakers": ["cid"], "utterance": 3}, r"unknown key\(s\) \['utterance'\]"),
])
def test_bad_split_settings(spec, message):
    with pytest.raises(ConfigError, match=message):
        SplitSpec.from_config("val", spec)


def test_unknown_speaker_names_the_speakers_present(fsdd, tmp_path):
    specs = {"val": SplitSpec(("dan",), (0, 2), 3)}
    with pytest.raises(DataError, match=r"data.splits.val: no usable recordings of speaker\(s\) \['dan'\] .*"
                                        r"\['ann', 'bob', 'cid'\]"):
        generate_digit_strings(fsdd, specs, GeneratorSettings(), 0, tmp_path)


@pytest.mark.parametrize("lines, message", [
    (["path\tspeaker\tword\tindex"], r"transcripts.tsv:1: the header lacks the column\(s\) \['digit'\]"),
    ([HEADER, "recordings/a.wav\tann\t3\tthree\t0"], r"transcripts.tsv:2: 5 fields, the header has 6"),
    ([HEADER, "recordings/a.wav\tann\t3\tthree\t0\t0.5", "recordings/b.wav\tann\tx\tthree\t1\t0.5"],
     r"transcripts.tsv:3: digit 'x' is not an integer"),
    ([HEADER, "recordings/a.wav\tann\t12\ttwelve\t0\t0.5"], r"transcripts.tsv:2: digit 12 is not one of 0-9"),
    ([HEADER, "recordings/a.wav\tann\t3\tfour\t0\t0.5"], r"transcripts.tsv:2: word 'four' does not name digit 3"),
    ([HEADER, "recordings/a.wav\tann\t3\tthree\t-1\t0.5"], r"transcripts.tsv:2: needs a path, a speaker and an "
                                                            r"index >= 0"),
    ([HEADER, "recordings/a.wav\tann\t3\tthree\t0\t0.5", "", "recordings/a.wav\tann\t3\tthree\t1\t0.5"],
     r"transcripts.tsv:4: .*a.wav already listed on line 2"),
])
def test_malformed_transcripts_name_the_file_and_line(tmp_path, lines, message):
    (tmp_path / "transcripts.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(FSDDFormatError, match=message):
        read_fsdd(tmp_path)


def test_missing_folder_or_transcripts_say_what_to_set(tmp_path):
    with pytest.raises(DataError, match=r"absent: no such folder; set data.root to the FSDD folder"):
        read_fsdd(tmp_path / "absent")
    with pytest.raises(DataError, match=r"transcripts.tsv: no such file; data.root must be the FSDD folder"):
        read_fsdd(tmp_path)


def test_an_unreadable_recording_is_skipped_with_a_warning(fsdd, tmp_path, caplog):
    broken = tmp_path / "fsdd"
    (broken / "recordings").mkdir(parents=True)
    lines = (fsdd / "transcripts.tsv").read_text().splitlines()
    for line in lines[1:]:
        path = line.split("\t")[0]
        (broken / path).write_bytes((fsdd / path).read_bytes())
    (broken / "recordings/3_cid_1.wav").write_bytes(b"not audio")
    (broken / "transcripts.tsv").write_text("\n".join(lines) + "\n")
    dataset = generate(broken, tmp_path / "cache")
    assert "3_cid_1.wav: not an audio format" in caplog.text
    assert all("3_cid_1" not in row["sources"] for row in read_manifest(dataset / "val.tsv"))


def test_config_trains_on_unseen_speakers_at_8_khz(fsdd, tmp_path, monkeypatch):
    monkeypatch.setenv("RECOG_CACHE", str(tmp_path))
    overrides = ["experiment=digits", f"data.root={fsdd}", "data.splits.train.speakers=[ann,bob]",
                 "data.splits.val.speakers=[cid]", "data.splits.test.speakers=[cid]",
                 "data.splits.train.takes=[1,2]", "data.splits.val.takes=[1,2]", "data.splits.test.takes=[0,0]",
                 "data.splits.train.utterances=6", "data.splits.val.utterances=4", "data.splits.test.utterances=2",
                 "data.num_workers=0"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    module: DigitsDataModule = instantiate(cfg.data, _convert_="all")
    module.prepare_data()
    module.setup("fit")
    assert {split: len(samples) for split, samples in module.splits.items()} == {"train": 6, "val": 4, "test": 2}
    batch = next(iter(module.val_dataloader()))
    assert batch["images"].shape[:3] == (4, 1, cfg.data.n_mels) and module.preprocessor.sample_rate == 8000
    assert all(set(text.split()) <= {word.upper() for word in DIGIT_WORDS} for text in batch["texts"])


def test_shared_fsdd_has_four_speakers_of_fifty_takes_per_digit():
    recordings = read_fsdd(shared_path("data", "fsdd"))
    assert len(recordings) == 2000
    assert {r.speaker for r in recordings} == {"george", "jackson", "nicolas", "yweweler"}
    assert {r.take for r in recordings} == set(range(50))
    assert all(r.path.is_file() for r in recordings[:: 97])

"""The speech corpus readers: LibriSpeech's layout, audio manifests, and the default speech alphabet."""
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.conftest import shared_path
from datamodules.audio_manifest import AudioManifestError, read_audio_manifest
from datamodules.librispeech import TranscriptFormatError, read_librispeech
from datamodules.utterances import Utterance
from recog.alphabet import ENGLISH_SPEECH_SYMBOLS, Alphabet
from recog.errors import DataError

REAL_TEXT = ("IF THE READER WILL EXCUSE ME I WILL SAY NOTHING OF MY ANTECEDENTS NOR OF THE CIRCUMSTANCES WHICH LED "
             "ME TO LEAVE MY NATIVE COUNTRY THE NARRATIVE WOULD BE TEDIOUS TO HIM AND PAINFUL TO MYSELF")


def write_audio(path: Path, seconds: float, rate: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, np.zeros(round(seconds * rate), dtype=np.float32), rate)
    return path


def write_chapter(root: Path, subset: str, speaker: str, chapter: str, rows: dict[str, float | None],
                  texts: dict[str, str] | None = None) -> Path:
    """A LibriSpeech chapter folder: one FLAC per utterance (None: no audio file) and the trans.txt."""
    folder = root / subset / speaker / chapter
    folder.mkdir(parents=True)
    for utterance, seconds in rows.items():
        if seconds is not None:
            write_audio(folder / f"{speaker}-{chapter}-{utterance}.flac", seconds)
    lines = [f"{speaker}-{chapter}-{u} {(texts or {}).get(u, 'HELLO WORLD')}" for u in rows]
    transcript = folder / f"{speaker}-{chapter}.trans.txt"
    transcript.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return transcript


def test_real_dev_clean_utterance():
    root = shared_path("data", "librispeech", "LibriSpeech")
    [utterance] = read_librispeech(root, ["dev-clean"])
    assert utterance == Utterance("2412-153948-0000", root / "dev-clean/2412/153948/2412-153948-0000.flac",
                                  REAL_TEXT, speaker="2412", subset="dev-clean", duration=11.66)
    assert read_librispeech(root, ["dev-clean"], max_duration=11.0) == []
    Alphabet(ENGLISH_SPEECH_SYMBOLS).encode(utterance.text)  # every character is in the speech alphabet


def test_subsets_speakers_chapters_and_duration_filter(tmp_path, caplog):
    write_chapter(tmp_path, "train-clean-100", "19", "198", {"0000": 1.0, "0001": 2.5}, {"0001": "IT'S  TWO"})
    write_chapter(tmp_path, "train-clean-100", "103", "1240", {"0000": 0.5})
    write_chapter(tmp_path, "dev-clean", "84", "121123", {"0000": 3.0})
    everything = read_librispeech(tmp_path, ["train-clean-100", "dev-clean"])
    assert [(u.id, u.speaker, u.subset, u.duration, u.text) for u in everything] == [
        ("103-1240-0000", "103", "train-clean-100", 0.5, "HELLO WORLD"),
        ("19-198-0000", "19", "train-clean-100", 1.0, "HELLO WORLD"),
        ("19-198-0001", "19", "train-clean-100", 2.5, "IT'S  TWO"),  # transcripts are kept as written
        ("84-121123-0000", "84", "dev-clean", 3.0, "HELLO WORLD"),
    ]
    assert everything[0].audio_path == tmp_path / "train-clean-100/103/1240/103-1240-0000.flac"
    with caplog.at_level(logging.INFO):
        short = read_librispeech(tmp_path, ["train-clean-100", "dev-clean"], max_duration=2.5)
    assert [u.id for u in short] == ["103-1240-0000", "19-198-0000", "19-198-0001"]
    assert "dropped 1 of 4 utterances longer than 2.5 s" in caplog.text


def test_missing_or_unreadable_audio_is_kept_with_unknown_duration(tmp_path):
    write_chapter(tmp_path, "dev-clean", "1", "2", {"0000": None, "0001": 1.0})
    (tmp_path / "dev-clean/1/2/1-2-0001.flac").write_bytes(b"")
    assert [(u.id, u.duration) for u in read_librispeech(tmp_path, ["dev-clean"], max_duration=0.1)] == [
        ("1-2-0000", None), ("1-2-0001", None)]


def test_missing_subset_folder_names_it_and_lists_the_subsets(tmp_path):
    write_chapter(tmp_path, "dev-clean", "1", "2", {"0000": 0.1})
    (tmp_path / "test-clean").mkdir()
    with pytest.raises(DataError) as raised:
        read_librispeech(tmp_path, ["dev-clean", "train-clean-100"])
    assert str(raised.value) == (f"{tmp_path / 'train-clean-100'}: no such LibriSpeech subset folder "
                                 "(subsets present: ['dev-clean', 'test-clean'])")
    with pytest.raises(DataError, match="no <speaker>/<chapter>/<speaker>-<chapter>.trans.txt files"):
        read_librispeech(tmp_path, ["test-clean"])
    with pytest.raises(DataError, match=f"^{tmp_path / 'absent' / 'dev-clean'}: .* \\({tmp_path / 'absent'} "
                                        "does not exist\\)$"):
        read_librispeech(tmp_path / "absent", ["dev-clean"])


@pytest.mark.parametrize(("row", "problem"), [
    ("1-2-0001", "no transcript after the utterance id 1-2-0001"),
    ("1-3-0001 HELLO", "'1-3-0001' is not an utterance id of this file's chapter (1-2-<number>); "
                       "rows are '<utterance-id> <TRANSCRIPT>'"),
    ("HELLO WORLD", "'HELLO' is not an utterance id of this file's chapter (1-2-<number>); "
                    "rows are '<utterance-id> <TRANSCRIPT>'"),
    ("1-2-0000 AGAIN", "utterance 1-2-0000 already listed at {file}:1"),
])
def test_malformed_transcript_rows_give_file_and_line(tmp_path, row, problem):
    transcript = write_chapter(tmp_path, "dev-clean", "1", "2", {"0000": 0.1})
    transcript.write_text(transcript.read_text() + "\n" + row + "\n")  # a blank line 2, the bad row on line 3
    with pytest.raises(TranscriptFormatError) as raised:
        read_librispeech(tmp_path, ["dev-clean"])
    assert str(raised.value) == f"{transcript}:3: " + problem.format(file=transcript)


def test_the_same_subset_twice_is_a_duplicate(tmp_path):
    transcript = write_chapter(tmp_path, "dev-clean", "1", "2", {"0000": 0.1})
    with pytest.raises(TranscriptFormatError, match=f"utterance 1-2-0000 already listed at {transcript}:1"):
        read_librispeech(tmp_path, ["dev-clean", "dev-clean"])


def test_tsv_manifest(tmp_path):
    write_audio(tmp_path / "clips" / "a.wav", 1.5, rate=8000)
    write_audio(tmp_path / "b.flac", 0.25)
    elsewhere = write_audio(tmp_path / "other" / "c.wav", 4.0)
    manifest = tmp_path / "corpus" / "manifest.tsv"
    manifest.parent.mkdir()
    manifest.write_text("path\ttext\tduration\tspeaker\n"
                        "../clips/a.wav\tone two\t\tjackson\n"
                        "\n"
                        "../b.flac\tthree\t9.5\t\n"
                        f"{elsewhere}\tfour\t\tnicolas\n", encoding="utf-8")
    assert read_audio_manifest(manifest) == [
        Utterance("../clips/a.wav", manifest.parent / "../clips/a.wav", "one two", speaker="jackson", duration=1.5),
        Utterance("../b.flac", manifest.parent / "../b.flac", "three", duration=9.5),  # the manifest's duration
        Utterance(str(elsewhere), elsewhere, "four", speaker="nicolas", duration=4.0),  # absolute path kept
    ]
    assert [u.id for u in read_audio_manifest(manifest, max_duration=4.0)] == ["../clips/a.wav", str(elsewhere)]


def test_jsonl_manifest_nemo_style(tmp_path):
    write_audio(tmp_path / "a.wav", 0.5)
    manifest = tmp_path / "train.jsonl"
    rows = [{"audio_filepath": "a.wav", "text": "hi", "duration": 0.5, "speaker_id": 7},
            {"audio_filepath": "missing.wav", "transcript": ""}]
    manifest.write_text("\n".join(map(json.dumps, rows)) + "\n\n", encoding="utf-8")
    assert read_audio_manifest(manifest) == [
        Utterance("a.wav", tmp_path / "a.wav", "hi", speaker="7", duration=0.5),
        Utterance("missing.wav", tmp_path / "missing.wav", "", duration=None),  # unreadable: kept, duration unknown
    ]


@pytest.mark.parametrize(("name", "content", "problem"), [
    ("m.tsv", "path\ttext\na.wav\thi\tthere\n", "{m}:2: 3 fields, the header has 2 (the manifest must be tab-separated)"),
    ("m.tsv", "file\ttext\na.wav\thi\n", "{m}:2: no path / audio / audio_filepath field (fields: ['file', 'text'])"),
    ("m.tsv", "", "{m}: empty manifest"),
    ("m.tsv", "path\ttext\tduration\na.wav\thi\tlong\n", "{m}:2: duration 'long' is not a number of seconds"),
    ("m.tsv", "path\ttext\tduration\na.wav\thi\t-1\n", "{m}:2: duration '-1' must be a non-negative number of seconds"),
    ("m.tsv", "path\ttext\na.wav\thi\nb.wav\tho\na.wav\thi\n", "{m}:4: a.wav already listed on line 2"),
    ("m.jsonl", '{"path": "a.wav", "text": "hi"}\n{"path": "b.wav", "text": "hi"\n',
     "{m}:2: not valid JSON (Expecting ',' delimiter)"),
    ("m.jsonl", '["a.wav", "hi"]\n', "{m}:1: expected a JSON object, got list"),
    ("m.jsonl", '{"path": "a.wav"}\n', "{m}:1: no text / transcript field (fields: ['path'])"),
    ("m.jsonl", '{"path": "a.wav", "text": 3}\n', "{m}:1: the transcript must be a string, got 3"),
    ("m.csv", "path,text\n", "{m}: unknown manifest type '.csv'; use .tsv or .jsonl"),
])
def test_malformed_manifests_give_file_and_line(tmp_path, name, content, problem):
    manifest = tmp_path / name
    manifest.write_text(content, encoding="utf-8")
    with pytest.raises(AudioManifestError) as raised:
        read_audio_manifest(manifest)
    assert str(raised.value) == problem.format(m=manifest)


def test_missing_manifest_names_the_file(tmp_path):
    with pytest.raises(DataError, match=f"^{tmp_path / 'm.tsv'}: no such file$"):
        read_audio_manifest(tmp_path / "m.tsv")


def test_english_speech_alphabet():
    alphabet = Alphabet(ENGLISH_SPEECH_SYMBOLS)
    assert len(alphabet) == 28 and alphabet.num_classes == 29
    assert alphabet.encode("A Z'") == [1, 28, 26, 27]
    assert alphabet.decode(alphabet.encode(REAL_TEXT + " DON'T")) == REAL_TEXT + " DON'T"
    assert alphabet.unknown_characters("Hello, world") == {"e", "l", "o", ",", "w", "r", "d"}

"""Tests of the synthetic speech data set (eSpeak NG voices in the LibriSpeech layout) and its data module."""
import random
from pathlib import Path

import numpy as np
import pytest
import soundfile

from datamodules.espeak import ESpeakError, Prosody, espeak
from datamodules.librispeech import read_librispeech
from datamodules.synthetic import SyntheticSpeechDataModule
from datamodules.synthetic_speech import (SUBSETS, assign_speakers, generate_librispeech_layout, spoken_sentence,
                                          spoken_words, voice_pool)
from recog.alphabet import ENGLISH_SPEECH_SYMBOLS
from recog.errors import ConfigError

SPEAKERS = {"train": 2, "dev": 1, "test": 1}
UTTERANCES = {"train": 3, "dev": 2, "test": 2}
SEED = 5


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return generate_librispeech_layout(tmp_path_factory.mktemp("first") / "speech", SPEAKERS, UTTERANCES, SEED)


def all_file_bytes(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def speakers_file(root: Path) -> dict[int, tuple[str, str]]:
    """speaker id -> (subset, voice), from SPEAKERS.TXT."""
    rows = (root / "LibriSpeech" / "SPEAKERS.TXT").read_text().splitlines()[1:]
    fields = [[field.strip() for field in row.split("|")] for row in rows]
    return {int(speaker): (subset, voice) for speaker, subset, voice in fields}


def test_generation_is_byte_identical_for_a_seed_whatever_the_workers(dataset, tmp_path):
    again = generate_librispeech_layout(tmp_path / "speech", SPEAKERS, UTTERANCES, SEED, workers=1)
    assert all_file_bytes(again) == all_file_bytes(dataset)


def test_another_seed_gives_other_audio(dataset, tmp_path):
    other = generate_librispeech_layout(tmp_path / "speech", {"train": 1}, {"train": 1}, SEED + 1)
    assert not set(all_file_bytes(other).values()) & set(all_file_bytes(dataset).values())


def test_librispeech_reader_reads_every_subset(dataset):
    for subset in SUBSETS:
        utterances = read_librispeech(dataset / "LibriSpeech", [subset])
        assert len(utterances) == SPEAKERS[subset] * UTTERANCES[subset]
        assert {u.subset for u in utterances} == {subset}
        assert len({u.speaker for u in utterances}) == SPEAKERS[subset]
        for utterance in utterances:
            assert utterance.id.startswith(f"{utterance.speaker}-1-")
            info = soundfile.info(str(utterance.audio_path))
            assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", 16000, 1)


def test_transcripts_are_words_over_the_speech_alphabet(dataset):
    for utterance in read_librispeech(dataset / "LibriSpeech", SUBSETS):
        assert set(utterance.text) <= set(ENGLISH_SPEECH_SYMBOLS)
        assert len(utterance.text.split(" ")) >= 2
        assert "" not in utterance.text.split(" "), "no leading, trailing or double spaces"


def test_durations_are_plausible_for_the_words_spoken(dataset):
    # eSpeak speaks 140-200 words per minute (+-10 %), with about 0.1 s of silence before and after.
    for utterance in read_librispeech(dataset / "LibriSpeech", SUBSETS):
        words = len(utterance.text.split(" "))
        assert 0.15 * words < utterance.duration < 0.6 * words + 0.5, (utterance.text, utterance.duration)


def test_audio_is_speech_with_noise_at_a_sane_level(dataset):
    for utterance in read_librispeech(dataset / "LibriSpeech", ["dev"]):
        samples, _ = soundfile.read(str(utterance.audio_path), dtype="int16")
        peak = int(np.abs(samples).max())
        assert 0.25 * 32767 - 1 <= peak <= 0.9 * 32767 + 1
        assert np.count_nonzero(samples == 0) < 0.1 * len(samples), "noise fills the pauses"


def test_subsets_have_their_own_voices(dataset):
    table = speakers_file(dataset)
    for subset in SUBSETS:
        subset_ids = {int(u.speaker) for u in read_librispeech(dataset / "LibriSpeech", [subset])}
        assert subset_ids == {speaker for speaker, (listed, _) in table.items() if listed == subset}
    voices = [voice for _, voice in table.values()]
    assert len(set(voices)) == len(voices) == sum(SPEAKERS.values())


def test_assigned_voices_never_repeat_across_subsets():
    speakers = assign_speakers({"train": 120, "dev": 20, "test": 20}, seed=0)
    voices = [speaker.voice for speaker in speakers]
    assert len(voices) == len(set(voices)) == len(voice_pool()) == 160
    assert len({speaker.id for speaker in speakers}) == 160
    assert [s.subset for s in speakers].count("dev") == 20


def test_assignment_depends_on_the_seed():
    assert assign_speakers({"dev": 8}, seed=0) != assign_speakers({"dev": 8}, seed=1)
    assert assign_speakers({"dev": 8}, seed=0) == assign_speakers({"dev": 8}, seed=0)


def test_spoken_words_keep_only_what_is_said_as_written():
    line = 'No, "Dr. Vaughan\'s" self-made QX-47 cost $3.45 & BBC TV (see p. 7) etc. I didn\'t'
    assert spoken_words(line) == ["NO", "VAUGHAN'S", "SELF", "MADE", "COST", "SEE", "P", "I", "DIDN'T"]


def test_spoken_sentences_have_at_least_two_words():
    rng = random.Random(0)
    for _ in range(200):
        sentence = spoken_sentence(rng)
        assert len(sentence.split(" ")) >= 2 and set(sentence) <= set(ENGLISH_SPEECH_SYMBOLS)


@pytest.mark.parametrize("speakers, utterances, message", [
    ({"train": 150, "dev": 20}, {"train": 1, "dev": 1}, "170 voices asked for; there are 160 "),
    ({"train": 2, "valid": 1}, {"train": 1, "valid": 1}, "unknown subsets \\['valid'\\]"),
    ({"train": 2}, {"dev": 3}, "data.utterances_per_speaker.train >= 1"),
])
def test_bad_sizes_are_config_errors(speakers, utterances, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        SyntheticSpeechDataModule(speakers=speakers, utterances_per_speaker=utterances, cache_dir=str(tmp_path))


def test_espeak_speaks_a_voice_variant_and_rejects_an_unknown_voice():
    synthesiser = espeak()
    samples = synthesiser.synthesize("hello world", "en-us+f2", Prosody(rate=175))
    assert synthesiser.sample_rate == 22050
    assert samples.dtype == np.int16 and 0.5 < len(samples) / 22050 < 2.0
    with pytest.raises(ESpeakError, match="no voice 'xx-yy'"):
        synthesiser.synthesize("hello", "xx-yy")


def test_data_module_generates_then_batches_dev_voices_as_val(tmp_path):
    module = SyntheticSpeechDataModule(speakers={"train": 1, "dev": 1}, utterances_per_speaker={"train": 2, "dev": 2},
                                       cache_dir=str(tmp_path), num_workers=0, batch_size=2, n_mels=40,
                                       spec_augment=None)
    module.prepare_data()
    module.setup("fit")
    assert (tmp_path / "synthetic-speech-v1-train1x2-dev1x2-s0" / "COMPLETE").is_file()
    assert sorted(module.splits) == ["train", "val"]
    assert module.alphabet.symbols == list(ENGLISH_SPEECH_SYMBOLS)
    assert {u.subset for u in module.splits["val"]} == {"dev"}
    batch = next(iter(module.val_dataloader()))
    assert batch["images"].shape[:3] == (2, 1, 40)

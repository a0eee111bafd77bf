"""Speech data modules: features, padding, speed perturbation, SpecAugment, bad audio and the frames budget, on tiny
WAV files."""
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from tests.conftest import shared_path
from datamodules.audio_manifest import AudioManifestDataModule
from datamodules.librispeech import LibriSpeechDataModule
from datamodules.speech import SpecAugment, SpeedPerturbation
from recog.alphabet import ENGLISH_SPEECH_SYMBOLS
from recog.audio import AudioPreprocessor, AudioReadError
from recog.errors import ConfigError

SECONDS = [0.30, 0.12, 0.45, 0.21, 0.05, 0.38]  # training utterances, one per WAV file


def write_noise(path: Path, seconds: float, seed: int, rate: int = 16000) -> int:
    """A WAV of white noise; returns its number of samples."""
    samples = np.random.default_rng(seed).standard_normal(round(seconds * rate)).astype(np.float32) * 0.1
    soundfile.write(path, samples, rate)
    return len(samples)


def write_manifest(folder: Path, name: str, rows: list[tuple[str, str, float]]) -> Path:
    """A TSV manifest with durations given, so the audio headers are not read before loading."""
    lines = ["path\ttext\tduration"] + [f"{audio}\t{text}\t{seconds}" for audio, text, seconds in rows]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def corpus(tmp_path) -> dict:
    """Train and val manifests over noise WAVs; returns the manifests and each file's sample count."""
    num_samples = {f"t{i}.wav": write_noise(tmp_path / f"t{i}.wav", s, seed=i) for i, s in enumerate(SECONDS)}
    num_samples["v0.wav"] = write_noise(tmp_path / "v0.wav", 0.25, seed=99)
    rows = [(f"t{i}.wav", f"utterance {letter}", s) for i, (letter, s) in enumerate(zip("abcdef", SECONDS))]
    train = write_manifest(tmp_path, "train.tsv", rows)
    val = write_manifest(tmp_path, "val.tsv", [("v0.wav", "it's done", 0.25)])
    return {"manifests": {"train": str(train), "val": str(val)}, "num_samples": num_samples}


def datamodule(corpus: dict, **settings) -> AudioManifestDataModule:
    module = AudioManifestDataModule(manifests=corpus["manifests"], n_mels=40, **settings)
    module.setup("fit")
    return module


def test_batch_shapes_true_frame_counts_and_zero_padding(corpus):
    module = datamodule(corpus, batch_size=4)
    batches = list(module.train_dataloader())
    assert sum(len(b["ids"]) for b in batches) == len(SECONDS)
    for batch in batches:
        frames = [module.preprocessor.feature_length(corpus["num_samples"][i]) for i in batch["ids"]]
        assert batch["widths"].tolist() == frames
        assert batch["images"].shape == (len(frames), 1, 40, max(frames))
        for row, width in enumerate(frames):
            assert batch["images"][row, :, :, width:].abs().sum() == 0
        assert batch["target_lengths"].tolist() == [len("UTTERANCE A")] * len(frames)
        assert batch["num_skipped"] == 0


def test_fixed_alphabet_and_upper_cased_transcripts(corpus):
    module = datamodule(corpus)
    assert module.alphabet.symbols == list(ENGLISH_SPEECH_SYMBOLS)
    assert [u.text for u in module.splits["val"]] == ["IT'S DONE"]


def test_spec_augment_masks_inside_each_utterance_and_only_for_training(corpus):
    augment = {"freq_masks": 1, "freq_width": 10, "time_masks": 2, "time_width": 1000}
    module = datamodule(corpus, spec_augment=augment)
    train, val = module.dataset("train"), module.dataset("val")
    for index, utterance in enumerate(train.samples):
        clean = module.preprocessor.load(utterance.audio_path)  # (1, n_mels, frames)
        masked = train[(index, 0)]["image"]
        assert masked.shape == clean.shape  # a time width past the utterance is capped at its length
        assert (masked == 0).any() and torch.equal(masked[masked != 0], clean[masked != 0])
        assert torch.equal(train[(index, 0)]["image"], masked)  # reproducible from (seed, epoch, index)
    assert any(not torch.equal(train[(i, 1)]["image"], train[(i, 0)]["image"]) for i in range(len(train)))
    assert torch.equal(val[(0, 0)]["image"], module.preprocessor.load(val.samples[0].audio_path))


def test_spec_augment_time_masks_stay_inside_a_short_utterance():
    features = torch.randn(1, 20, 7) + 5.0  # (1, n_mels, frames), no value is 0 before masking
    for seed in range(50):
        masked = SpecAugment(freq_masks=0, time_masks=3, time_width=40)(features, str(seed))
        assert masked.shape == (1, 20, 7)
        zero_frames = (masked == 0).all(dim=1).squeeze(0)  # (frames,)
        assert torch.equal(masked[:, :, ~zero_frames], features[:, :, ~zero_frames])


@pytest.mark.parametrize("factor, samples, frames", [(1.1, 14546, 91), (0.9, 17778, 112)])
def test_speed_perturbation_shortens_or_lengthens_exactly(factor, samples, frames):
    # 1 s at 16 kHz: ceil(16000 / factor) samples; frames 1 + samples // 160 (101 unperturbed)
    perturbed = SpeedPerturbation((factor,), 16000)(torch.zeros(16000), factor)
    assert len(perturbed) == samples == math.ceil(16000 / factor)
    assert AudioPreprocessor().feature_length(len(perturbed)) == frames


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_speed_perturbation_scales_the_pitch_with_the_tempo(factor):
    time = torch.arange(16000) / 16000
    perturbed = SpeedPerturbation((factor,), 16000)(torch.sin(2 * math.pi * 1000 * time), factor)
    peak_hz = torch.fft.rfft(perturbed).abs().argmax().item() * 16000 / len(perturbed)
    assert peak_hz == pytest.approx(1000 * factor, abs=1.0)


def test_speed_perturbation_is_drawn_per_utterance_and_epoch_for_training_only(corpus):
    module = datamodule(corpus, speed_perturb=[0.9, 1.0, 1.1])
    train, val = module.dataset("train"), module.dataset("val")
    preprocessor = module.preprocessor
    chosen = set()
    for index, utterance in enumerate(train.samples):
        samples = corpus["num_samples"][utterance.audio_path.name]
        lengths = {factor: preprocessor.feature_length(math.ceil(samples / factor)) for factor in (0.9, 1.0, 1.1)}
        for epoch in range(4):
            frames = train[(index, epoch)]["image"].shape[-1]
            assert frames in lengths.values()
            assert train[(index, epoch)]["image"].shape[-1] == frames  # reproducible from (seed, epoch, index)
            if len(set(lengths.values())) == 3:  # not padded up to min_frames whatever the factor
                chosen |= {factor for factor, length in lengths.items() if length == frames}
    assert chosen == {0.9, 1.0, 1.1}
    assert torch.equal(val[(0, 3)]["image"], preprocessor.load(val.samples[0].audio_path))


@pytest.mark.parametrize("factors", [[], [0.0, 1.0], [-1.1]])
def test_speed_factors_must_be_positive(corpus, factors):
    with pytest.raises(ConfigError, match="data.speed_perturb must be a list of positive speed factors"):
        datamodule(corpus, speed_perturb=factors)


def test_corrupt_file_is_skipped_and_counted(corpus, tmp_path):
    (tmp_path / "t2.wav").write_bytes(b"RIFF not really a wave file")
    module = datamodule(corpus, batch_size=8)
    (batch,) = list(module.train_dataloader())
    assert batch["num_skipped"] == 1 and "t2.wav" not in batch["ids"] and len(batch["ids"]) == len(SECONDS) - 1
    with pytest.raises(AudioReadError, match="t2.wav"):
        list(datamodule(corpus, batch_size=8, on_bad_sample="fail").train_dataloader())


def test_frames_budget_limits_the_batch_size(corpus):
    module = datamodule(corpus, batch_size=8, max_frames=70)
    batches = list(module.train_dataloader())
    assert sum(len(b["ids"]) for b in batches) == len(SECONDS)
    # frames 6, 13, 22 | 31 | 39 | 46: a fourth utterance would pad [6, 13, 22, 31] to 4 x 31 > 70
    assert sorted(len(b["ids"]) for b in batches) == [1, 1, 1, 3]
    for batch in batches:
        assert len(batch["ids"]) == 1 or batch["images"].shape[0] * batch["images"].shape[-1] <= 70


def test_real_librispeech_utterance():
    root = shared_path("data", "librispeech", "LibriSpeech")
    module = LibriSpeechDataModule(root=str(root), splits={"train": ["dev-clean"], "val": ["dev-clean"]})
    module.setup("fit")
    (batch,) = list(module.val_dataloader())
    (utterance,) = module.splits["val"]
    frames = module.preprocessor.num_frames(soundfile.info(str(utterance.audio_path)).frames)
    assert batch["images"].shape == (1, 1, 80, frames) and batch["widths"].tolist() == [frames]
    assert module.alphabet.decode(batch["targets"][0].tolist()) == utterance.text


def test_the_feature_cache_gives_the_same_items_and_reads_each_file_once_per_speed(corpus, monkeypatch):
    settings = {"speed_perturb": [0.9, 1.0, 1.1], "spec_augment": {"freq_masks": 1, "freq_width": 5,
                                                                    "time_masks": 1, "time_width": 5}}
    plain, cached = datamodule(corpus, **settings), datamodule(corpus, num_workers=0, feature_cache_mb=64, **settings)
    keys = [(split, index, epoch) for epoch in range(6) for split in ("train", "val")
            for index in range(len(plain.dataset(split)))]
    expected = [plain.dataset(split)[(index, epoch)]["image"] for split, index, epoch in keys]
    reads = []
    read = type(cached.preprocessor).read
    monkeypatch.setattr(type(cached.preprocessor), "read", lambda self, path: reads.append(path) or read(self, path))
    got = [cached.dataset(split)[(index, epoch)]["image"] for split, index, epoch in keys]
    assert all(torch.equal(a, b) for a, b in zip(got, expected))  # SpecAugment drawn anew on clean features
    factors = {(path, cached.speed_perturbation.factor(f"0/{epoch}/{index}"))
               for index, path in enumerate(u.audio_path for u in cached.dataset("train").samples)
               for epoch in range(6)}
    assert len(reads) == len(factors) + 1  # each (training file, speed) once, and the validation file
    assert cached.feature_cache.held_bytes == sum(f.numel() * 4 for f in cached.feature_cache.features.values())


def test_the_feature_cache_stops_growing_at_its_budget(corpus):
    cached = datamodule(corpus, num_workers=0, feature_cache_mb=0.01)  # 10 KiB: the first utterance or two
    for index in range(len(cached.dataset("train"))):
        cached.dataset("train")[(index, 0)]
    assert 0 < cached.feature_cache.held_bytes <= 0.01 * 2**20
    assert len(cached.feature_cache.features) < len(cached.dataset("train"))


def test_the_feature_cache_needs_the_data_loaded_in_the_training_process(corpus):
    with pytest.raises(ConfigError, match="data.feature_cache_mb=64 needs data.num_workers=0"):
        datamodule(corpus, num_workers=1, feature_cache_mb=64)

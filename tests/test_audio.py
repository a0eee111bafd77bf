import math
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from recog.audio import AudioPreprocessor, AudioReadError, load_audio
from recog.errors import RecogError


def tone(seconds: float, rate: int, frequency: float = 440.0) -> np.ndarray:
    times = np.arange(round(seconds * rate)) / rate
    return (0.5 * np.sin(2 * math.pi * frequency * times)).astype(np.float32)


def test_b14_stereo_44k1_is_downmixed_and_resampled(cases_dir):
    waveform = load_audio(cases_dir / "B14_stereo_44k1.wav", 16000)
    reference, rate = soundfile.read(cases_dir / "B14_ref_mono_16k.wav", dtype="float32")
    assert rate == 16000
    assert waveform.shape == (1600,) and waveform.dtype == torch.float32
    assert np.corrcoef(waveform.numpy(), reference)[0, 1] > 0.999


@pytest.mark.parametrize(("name", "reason"), [
    ("B16_empty_file.wav", "empty file (0 bytes)"),
    ("B16_zero_frames.wav", "no audio (the file holds 0 frames)"),
    ("B16_truncated.wav", "truncated WAV file: its header announces 31680 more bytes of audio than the file holds"),
])
def test_b16_corrupt_files_name_the_file_and_the_reason(cases_dir, name, reason):
    path = cases_dir / name
    with pytest.raises(AudioReadError) as raised:
        load_audio(path, 16000)
    assert str(raised.value) == f"{path}: {reason}"
    assert isinstance(raised.value, RecogError)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_wav_of_any_sample_width_gives_the_same_waveform(tmp_path, subtype):
    samples = tone(0.1, 16000)
    path = tmp_path / f"{subtype}.wav"
    soundfile.write(path, samples, 16000, subtype=subtype)
    waveform = load_audio(path, 16000)
    assert waveform.shape == (1600,) and waveform.dtype == torch.float32
    tolerance = 1 / 128 if subtype == "PCM_U8" else 1e-4
    assert (waveform - torch.from_numpy(samples)).abs().max() < tolerance


@pytest.mark.parametrize(("suffix", "tolerance"), [(".flac", 1e-4), (".ogg", 0.05), (".mp3", 0.05)])
def test_flac_ogg_and_mp3_decode(tmp_path, suffix, tolerance):
    samples = tone(0.5, 16000)
    path = tmp_path / f"a{suffix}"
    soundfile.write(path, samples, 16000)
    waveform = load_audio(path, 16000)
    assert waveform.shape == (8000,)
    assert (waveform - torch.from_numpy(samples)).abs().max() < tolerance  # Vorbis and MP3 are lossy


def test_channels_are_averaged(tmp_path):
    left, right = tone(0.01, 8000), np.full(80, 0.25, dtype=np.float32)
    soundfile.write(tmp_path / "s.wav", np.stack([left, right], axis=1), 8000, subtype="FLOAT")
    assert torch.equal(load_audio(tmp_path / "s.wav", 8000), torch.from_numpy((left + right) / 2))


def test_resampling_keeps_duration(tmp_path):
    soundfile.write(tmp_path / "a.wav", tone(1.0, 22050), 22050)
    assert load_audio(tmp_path / "a.wav", 16000).shape == (16000,)
    assert load_audio(tmp_path / "a.wav", 8000).shape == (8000,)


@pytest.mark.parametrize(("make", "reason"), [
    (lambda path: None, "no such file"),
    (lambda path: path.mkdir(), "not a file"),
    (lambda path: path.write_text("not audio at all, just text"),
     "not an audio format soundfile can read (WAV, FLAC, OGG, ...)"),
])
def test_missing_folder_and_unknown_format(tmp_path, make, reason):
    path = tmp_path / "x.wav"
    make(path)
    with pytest.raises(AudioReadError) as raised:
        load_audio(path, 16000)
    assert str(raised.value) == f"{path}: {reason}"


def wav_with_list_chunk(samples: np.ndarray) -> bytes:
    """16-bit mono 16 kHz WAV with an odd-sized LIST chunk (padded to even) between fmt and data."""
    fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, 16000, 32000, 2, 16)
    listing = struct.pack("<4sI", b"LIST", 3) + b"abc\0"
    pcm = (samples * 32767).astype("<i2").tobytes()
    data = struct.pack("<4sI", b"data", len(pcm)) + pcm
    body = b"WAVE" + fmt + listing + data
    return struct.pack("<4sI", b"RIFF", len(body)) + body


def test_wav_chunks_are_walked_to_find_truncation(tmp_path):
    samples = tone(0.01, 16000)  # 160 samples, 320 bytes
    whole, cut = tmp_path / "whole.wav", tmp_path / "cut.wav"
    whole.write_bytes(wav_with_list_chunk(samples))
    cut.write_bytes(wav_with_list_chunk(samples)[:-100])
    assert (load_audio(whole, 16000) - torch.from_numpy(samples)).abs().max() < 1e-4
    with pytest.raises(AudioReadError, match="truncated WAV file: its header announces 100 more bytes"):
        load_audio(cut, 16000)


def test_unreadable_file_names_the_os_reason(tmp_path, monkeypatch):
    path = tmp_path / "a.wav"
    soundfile.write(path, tone(0.01, 16000), 16000)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)  # chmod cannot stop root, who runs some test machines
    with pytest.raises(AudioReadError, match=f"^{path}: cannot read \\(Permission denied\\)$"):
        load_audio(path, 16000)


@pytest.mark.parametrize("suffix", [".flac", ".ogg"])
def test_truncated_compressed_files(tmp_path, suffix):
    path = tmp_path / f"a{suffix}"
    soundfile.write(path, tone(1.0, 16000), 16000)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(AudioReadError, match=f"^{path}: corrupt or unreadable audio"):
        load_audio(path, 16000)


def test_file_decoding_to_fewer_frames_than_its_header_announces(tmp_path):
    path = tmp_path / "a.mp3"  # MP3 (its Xing header counts the frames) cut in half decodes without an error
    soundfile.write(path, tone(1.0, 16000), 16000)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(AudioReadError, match=f"^{path}: truncated file: the header announces 16000 frames, "
                                             "only [0-9]+ could be decoded$"):
        load_audio(path, 16000)


def test_non_finite_samples_are_rejected(tmp_path):
    samples = tone(0.01, 16000)
    samples[3] = np.nan
    soundfile.write(tmp_path / "nan.wav", samples, 16000, subtype="FLOAT")
    with pytest.raises(AudioReadError, match="NaN or infinite"):
        load_audio(tmp_path / "nan.wav", 16000)


def test_features_shape_and_per_band_normalisation():
    preprocessor = AudioPreprocessor()
    features = preprocessor(torch.from_numpy(tone(1.0, 16000)))
    assert features.shape == (1, 80, 101) and features.dtype == torch.float32
    assert features.mean(dim=2).abs().max() < 1e-4
    assert (features.std(dim=2, unbiased=False) - 1).abs().max() < 1e-3


def test_features_ignore_gain():
    preprocessor = AudioPreprocessor()
    noise = 0.1 * torch.randn(4800, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(preprocessor(noise), preprocessor(0.5 * noise), atol=1e-3)  # while well above LOG_FLOOR


def test_silence_gives_zeros_not_nan():
    features = AudioPreprocessor(min_frames=1)(torch.zeros(1000))
    assert features.shape == (1, 80, 7) and features.abs().max() <= 1e-3  # float32 rounding of the mean


def test_short_features_are_padded_with_zeros_up_to_min_frames():
    click = torch.from_numpy(tone(0.01, 16000))  # 160 samples: 2 frames
    features = AudioPreprocessor(min_frames=16)(click)
    assert features.shape == (1, 80, 16) and AudioPreprocessor(min_frames=16).feature_length(160) == 16
    assert torch.equal(features[..., :2], AudioPreprocessor(min_frames=1)(click))
    assert not features[..., 2:].any()


def test_unnormalised_features_are_log_mel_power():
    features = AudioPreprocessor(normalize=False, min_frames=1)(torch.zeros(1000))
    assert torch.allclose(features, torch.full((1, 80, 7), math.log(1e-6)))


@pytest.mark.parametrize("settings", [{}, {"sample_rate": 8000, "n_mels": 40},
                                      {"sample_rate": 22050, "win_ms": 25.0, "hop_ms": 12.5},  # odd window: 551
                                      {"win_ms": 20.0, "hop_ms": 15.0, "n_mels": 40}])
def test_b05_num_frames_equals_real_output_size_for_every_length(settings):
    preprocessor = AudioPreprocessor(**settings, min_frames=1)
    # every length up to a window plus two hops (all remainders modulo the hop, both sides of the window), and long ones
    lengths = list(range(1, preprocessor.win_length + 2 * preprocessor.hop_length)) + [12345, 16000, 16001, 99999]
    real_sizes = [preprocessor(torch.ones(length)).size(-1) for length in lengths]
    assert [preprocessor.num_frames(length) for length in lengths] == real_sizes
    assert preprocessor.num_frames(torch.tensor(lengths)).tolist() == real_sizes


def test_frame_arithmetic():
    preprocessor = AudioPreprocessor()
    assert (preprocessor.win_length, preprocessor.hop_length) == (400, 160)
    assert preprocessor.seconds_per_frame == 0.01
    assert [preprocessor.num_frames(n) for n in (1, 159, 160, 16000)] == [1, 1, 2, 101]
    assert AudioPreprocessor(sample_rate=22050, hop_ms=12.5).seconds_per_frame == 276 / 22050


def test_empty_or_multichannel_waveform_is_rejected():
    with pytest.raises(ValueError, match=r"non-empty mono waveform \(samples,\), got shape \(0,\)"):
        AudioPreprocessor()(torch.zeros(0))
    with pytest.raises(ValueError, match=r"got shape \(2, 100\)"):
        AudioPreprocessor()(torch.zeros(2, 100))


def test_load_resamples_to_the_preprocessor_rate(tmp_path):
    soundfile.write(tmp_path / "a.wav", tone(0.5, 44100), 44100)
    assert AudioPreprocessor().load(tmp_path / "a.wav").shape == (1, 80, 51)


def test_settings_round_trip_and_pickle():
    preprocessor = AudioPreprocessor(sample_rate=8000, n_mels=40, normalize=False)
    settings = preprocessor.to_dict()
    assert settings == {"modality": "audio", "sample_rate": 8000, "n_mels": 40, "win_ms": 25.0, "hop_ms": 10.0,
                        "normalize": False, "min_frames": 16}
    assert AudioPreprocessor.from_dict(settings) == preprocessor
    preprocessor(torch.ones(100))  # builds the cached mel filter bank
    copy = pickle.loads(pickle.dumps(preprocessor))  # data loader workers receive it pickled
    assert copy == preprocessor and torch.equal(copy(torch.ones(100)), preprocessor(torch.ones(100)))

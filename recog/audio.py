"""Audio file -> mono waveform at the model's rate -> normalised log-mel features (1, n_mels, frames).

Any file soundfile (libsndfile) decodes is accepted: WAV of any PCM width or float, FLAC, OGG, and the other
formats libsndfile lists. Channels are averaged to mono and the waveform is resampled to the model's rate
(case B14), so a recording's format never reaches the model. A file that cannot be used raises AudioReadError
naming the file and the reason (case B16): missing, empty, not audio, no samples, truncated, corrupt.

libsndfile silently reads a truncated WAV up to where its data end, so the RIFF header's declared data size is
checked against the file size; other formats are caught by decoding errors or by reading fewer frames than the
header announced.
"""
from __future__ import annotations

import struct
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio

from recog.alignment import FrameGeometry
from recog.errors import InputReadError

LOG_FLOOR = 1e-6  # added to mel power before the log: digital silence gives log(1e-6), not -inf
STD_FLOOR = 1e-3  # a mel band (nearly) constant over the utterance normalises to about 0, not to inf
UNKNOWN_WAV_SIZE = 0xFFFFFFFF  # data size written by streaming encoders that never seek back
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au", ".caf",
                            ".w64", ".rf64"})


class AudioReadError(InputReadError):
    """An audio file that cannot be used, with the file and the reason in the message."""


def load_audio(path: str | Path, sample_rate: int) -> torch.Tensor:
    """Decode an audio file to a mono float32 waveform (samples,) at `sample_rate`."""
    samples, file_rate = read_samples(path)  # (frames, channels)
    mono = torch.from_numpy(samples.mean(axis=1, dtype=np.float32))  # (frames,)
    if file_rate != sample_rate:
        mono = torchaudio.functional.resample(mono, file_rate, sample_rate)
    return mono


def read_samples(path: str | Path) -> tuple[np.ndarray, int]:
    """All samples as float32 (frames, channels) and the file's sample rate; every failure names the file."""
    path = Path(path)
    check_file(path)
    try:
        with soundfile.SoundFile(path) as sound:
            declared_frames = sound.frames
            samples = sound.read(dtype="float32", always_2d=True)
            file_rate = sound.samplerate
    except soundfile.LibsndfileError as error:
        raise AudioReadError(f"{path}: {describe_libsndfile_error(error)}") from None
    except (soundfile.SoundFileError, RuntimeError, ValueError) as error:
        raise AudioReadError(f"{path}: corrupt audio ({error})") from None
    if len(samples) < declared_frames:
        raise AudioReadError(f"{path}: truncated file: the header announces {declared_frames} frames, "
                             f"only {len(samples)} could be decoded")
    if len(samples) == 0:
        raise AudioReadError(f"{path}: no audio (the file holds 0 frames)")
    if not np.isfinite(samples).all():
        raise AudioReadError(f"{path}: the samples contain NaN or infinite values")
    return samples, file_rate


def check_file(path: Path) -> None:
    """Fail early, with a plain reason, for what libsndfile reports only as 'System error' or 'Format not
    recognised': a missing path, a folder, an empty file, a WAV cut short."""
    if not path.exists():
        raise AudioReadError(f"{path}: no such file")
    if not path.is_file():
        raise AudioReadError(f"{path}: not a file")
    try:
        size = path.stat().st_size
        missing = missing_wav_bytes(path, size)
    except OSError as error:
        raise AudioReadError(f"{path}: cannot read ({error.strerror})") from None
    if size == 0:
        raise AudioReadError(f"{path}: empty file (0 bytes)")
    if missing > 0:
        raise AudioReadError(f"{path}: truncated WAV file: its header announces {missing} more bytes of "
                             "audio than the file holds")


def missing_wav_bytes(path: Path, file_size: int) -> int:
    """How many bytes of the declared WAV data chunk lie beyond the end of the file (0 for other formats
    and for streamed WAVs whose size field was never filled in)."""
    with path.open("rb") as stream:
        if stream.read(4) != b"RIFF" or stream.read(8)[4:] != b"WAVE":
            return 0
        while True:
            chunk_header = stream.read(8)
            if len(chunk_header) < 8:
                return 0
            chunk_id, chunk_size = struct.unpack("<4sI", chunk_header)
            if chunk_id == b"data":
                if chunk_size == UNKNOWN_WAV_SIZE:
                    return 0
                return max(0, chunk_size - (file_size - stream.tell()))
            stream.seek(chunk_size + chunk_size % 2, 1)  # chunks are padded to an even size


def describe_libsndfile_error(error: soundfile.LibsndfileError) -> str:
    message = error.error_string
    if "Format not recognised" in message:
        return "not an audio format soundfile can read (WAV, FLAC, OGG, ...)"
    return f"corrupt or unreadable audio ({message})"


@dataclass(frozen=True)
class AudioPreprocessor:
    """Mono waveform -> log-mel features (1, n_mels, frames), each mel band normalised over the utterance.

    Frames are centred (the waveform is padded with zeros by half a window on each side), so every waveform of
    at least one sample gives `num_frames(samples) = 1 + samples // hop` frames (for an even window). The
    per-utterance mean/variance normalisation removes the recording's gain and channel colouring. Features
    shorter than `min_frames` are padded with zeros (the normalised mean) so that even a click of a few
    milliseconds gives the front end enough frames.
    """

    sample_rate: int = 16000
    n_mels: int = 80
    win_ms: float = 25.0
    hop_ms: float = 10.0
    normalize: bool = True
    min_frames: int = 16

    modality = "audio"
    file_suffixes = AUDIO_SUFFIXES
    min_length_setting = "data.min_frames"

    @property
    def input_height(self) -> int:
        return self.n_mels

    @property
    def min_length(self) -> int:
        return self.min_frames

    @property
    def win_length(self) -> int:
        """Window (and FFT) size in samples."""
        return round(self.sample_rate * self.win_ms / 1000)

    @property
    def hop_length(self) -> int:
        return round(self.sample_rate * self.hop_ms / 1000)

    @property
    def seconds_per_frame(self) -> float:
        return self.hop_length / self.sample_rate

    @cached_property
    def mel_spectrogram(self) -> torchaudio.transforms.MelSpectrogram:
        return torchaudio.transforms.MelSpectrogram(
            sample_rate=self.sample_rate, n_fft=self.win_length, win_length=self.win_length,
            hop_length=self.hop_length, n_mels=self.n_mels, center=True, pad_mode="constant")

    def __call__(self, waveform: torch.Tensor) -> torch.Tensor:
        """waveform (samples,) -> features (1, n_mels, feature_length(samples))."""
        if waveform.dim() != 1 or waveform.numel() == 0:
            raise ValueError(f"expected a non-empty mono waveform (samples,), got shape {tuple(waveform.shape)}")
        power = self.mel_spectrogram(waveform.float())  # (n_mels, frames)
        features = torch.log(power + LOG_FLOOR)
        if self.normalize:
            mean = features.mean(dim=1, keepdim=True)  # (n_mels, 1)
            std = features.std(dim=1, unbiased=False, keepdim=True)  # (n_mels, 1)
            features = (features - mean) / std.clamp(min=STD_FLOOR)
        missing = self.min_frames - features.size(1)
        if missing > 0:
            features = torch.nn.functional.pad(features, (0, missing))
        return features.unsqueeze(0)

    def num_frames(self, num_samples):
        """Feature frames made from `num_samples` samples (an int or an integer tensor), exactly as __call__:
        the centred STFT pads n_fft // 2 zeros on each side, then counts whole windows every hop."""
        padded = num_samples + 2 * (self.win_length // 2)
        return 1 + (padded - self.win_length) // self.hop_length

    def feature_length(self, num_samples: int) -> int:
        """Frames of the tensor __call__ returns for `num_samples` samples (padded up to min_frames)."""
        return max(self.min_frames, self.num_frames(num_samples))

    def read(self, path: str | Path) -> torch.Tensor:
        """The file as the model's source: its mono waveform (samples,) at this sample rate."""
        return load_audio(path, self.sample_rate)

    def load(self, path: str | Path) -> torch.Tensor:
        return self(self.read(path))

    def frame_geometry(self, waveform: torch.Tensor, width_stride: int) -> FrameGeometry:
        """Output frames of a model subsampling time by width_stride, in seconds of the recording."""
        return FrameGeometry.for_audio(self.seconds_per_frame, width_stride, len(waveform) / self.sample_rate)

    def picture(self, waveform: torch.Tensor) -> tuple[np.ndarray, str]:
        """What a plot shows of the source: its log-mel spectrogram (n_mels, frames), low bands at the bottom."""
        features = self(waveform)[0, :, : self.num_frames(len(waveform))]  # (n_mels, frames), no padding
        return features.flip(0).numpy(), "magma"

    def input_format(self) -> dict:
        """What a model trained on these features needs its inputs to be (fine-tuning must keep it)."""
        return {"modality": self.modality, "sample_rate": self.sample_rate, "n_mels": self.n_mels,
                "win_ms": self.win_ms, "hop_ms": self.hop_ms, "normalize": self.normalize}

    def to_dict(self) -> dict:
        return {"modality": self.modality, **asdict(self)}

    @classmethod
    def from_dict(cls, settings: dict) -> "AudioPreprocessor":
        return cls(**{k: v for k, v in settings.items() if k != "modality"})

"""Everything the speech data modules share: dataset, SpecAugment, batching by frame count.

A concrete data module (LibriSpeech, an audio manifest) only says which utterances each split holds, by
implementing `read_splits()`. This module turns them into padded batches with the same keys as line images,
so the model and the Lightning module read both alike:

    Utterance -> audio file -> AudioPreprocessor -> (1, n_mels, frames) -> (SpecAugment) -> collate_lines ->
    images (N, 1, n_mels, T_max), widths (N,) = true frame counts, targets (N, S_max), target_lengths (N,)
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace

import torch
import torchaudio

from datamodules.transcribed import TranscribedDataModule, check_positive, warn_empty_transcripts
from datamodules.utterances import Utterance
from recog.alphabet import ENGLISH_SPEECH_SYMBOLS
from recog.audio import AudioPreprocessor, AudioReadError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpecAugment:
    """Frequency and time masking (Park et al. 2019) of one utterance's features, before padding, so every
    mask lies inside the utterance. Masked values are 0, the mean of the normalised features."""

    freq_masks: int = 2
    freq_width: int = 27  # the widest frequency mask, in mel bands
    time_masks: int = 2
    time_width: int = 40  # the widest time mask, in frames (capped at the utterance's length)

    def __call__(self, features: torch.Tensor, seed: str) -> torch.Tensor:
        """features (1, n_mels, frames) -> masked copy, reproducible from `seed`."""
        freq_masking = torchaudio.transforms.FrequencyMasking(min(self.freq_width, features.size(1)))
        time_masking = torchaudio.transforms.TimeMasking(min(self.time_width, features.size(2)))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(random.Random(seed).getrandbits(63))
            for _ in range(self.freq_masks):
                features = freq_masking(features)
            for _ in range(self.time_masks):
                features = time_masking(features)
        return features


@dataclass(frozen=True)
class UtteranceLoader:
    """An utterance -> its log-mel features (1, n_mels, frames), SpecAugment-masked on the training split."""

    preprocessor: AudioPreprocessor
    spec_augment: SpecAugment | None = None

    def __call__(self, utterance: Utterance, draw: str) -> torch.Tensor:
        features = self.preprocessor.load(utterance.audio_path)
        if self.spec_augment is not None:
            features = self.spec_augment(features, draw)
        return features


class SpeechDataModule(TranscribedDataModule):
    """Base data module for speech; subclasses implement `read_splits()`. The alphabet is the 28 symbols of
    English speech (A-Z, apostrophe, space) unless `alphabet` names a file; transcripts are upper-cased.
    Batches hold utterances of similar length, at most `batch_size` of them and at most `max_frames` padded
    feature frames in all (items x longest)."""

    default_symbols = ENGLISH_SPEECH_SYMBOLS
    items = "utterances"
    split_hint = "the corpus parts that make it up"

    def __init__(
        self,
        sample_rate: int = 16000,
        n_mels: int = 80,
        win_ms: float = 25.0,
        hop_ms: float = 10.0,
        min_frames: int = 16,
        batch_size: int = 32,
        eval_batch_size: int = 32,
        max_frames: int | None = None,
        num_workers: int = 1,
        alphabet: str | None = None,
        unknown_chars: str = "skip",
        normalizer: dict | None = None,
        spec_augment: dict | None = None,
        on_bad_sample: str = "skip",
        seed: int = 0,
    ):
        super().__init__(batch_size, eval_batch_size, num_workers, alphabet, unknown_chars,
                         {"uppercase": True} if normalizer is None else normalizer, on_bad_sample, seed)
        check_positive(sample_rate=sample_rate, n_mels=n_mels, min_frames=min_frames)
        if max_frames is not None:
            check_positive(max_frames=max_frames)
        self.preprocessor = AudioPreprocessor(sample_rate=sample_rate, n_mels=n_mels, win_ms=win_ms, hop_ms=hop_ms,
                                              min_frames=min_frames)
        self.spec_augment = SpecAugment(**spec_augment) if spec_augment is not None else None
        self.max_total_length = max_frames

    def prepare_samples(self, split: str, utterances: list[Utterance]) -> list[Utterance]:
        """Normalise the transcripts; an utterance whose audio header could not be read (duration None)
        follows on_bad_sample."""
        prepared = []
        for utterance in utterances:
            if utterance.duration is None:
                message = f"{split} utterance {utterance.id}: cannot read audio {utterance.audio_path}"
                if self.on_bad_sample == "fail":
                    raise AudioReadError(message)
                log.warning("%s (skipped)", message)
                continue
            prepared.append(replace(utterance, text=self.normalizer(utterance.text)))
        warn_empty_transcripts(split, prepared, self.items)
        return prepared

    def sample_lengths(self, utterances: list[Utterance]) -> list[int]:
        """Feature frames of each utterance, from its header duration at the model's rate."""
        rate = self.preprocessor.sample_rate
        return [self.preprocessor.feature_length(round(u.duration * rate)) for u in utterances]

    def input_loader(self, split: str) -> UtteranceLoader:
        return UtteranceLoader(self.preprocessor, self.spec_augment if split == "train" else None)

"""Everything the speech data modules share: dataset, speed perturbation, SpecAugment, batching by frame count.

A concrete data module (LibriSpeech, an audio manifest) only says which utterances each split holds, by
implementing `read_splits()`. This module turns them into padded batches with the same keys as line images,
so the model and the Lightning module read both alike:

    Utterance -> audio file -> waveform -> (speed perturbation) -> AudioPreprocessor -> (1, n_mels, frames) ->
    [FeatureCache] -> (SpecAugment) -> collate_lines -> images (N, 1, n_mels, T_max), widths (N,) = true frame counts,
    targets (N, S_max), target_lengths (N,)

Both augmentations apply to the training split only, drawn per (utterance, epoch) reproducibly.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from functools import cached_property

import torch
import torchaudio

from datamodules.transcribed import TranscribedDataModule, check_positive, warn_empty_transcripts
from datamodules.utterances import Utterance
from recog.alphabet import ENGLISH_SPEECH_SYMBOLS
from recog.audio import AudioPreprocessor, AudioReadError
from recog.errors import ConfigError

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
        """features (1, n_mels, frames) -> masked copy, reproducible from `seed`. Each mask's width is drawn
        uniformly from [0, width] (capped at the axis' size), its start uniformly where it fits. Plain slicing:
        this runs for every training utterance of every epoch, so it must cost microseconds, not milliseconds."""
        draw = random.Random(seed)
        masked = features.clone()
        for axis, count, max_width in ((1, self.freq_masks, self.freq_width), (2, self.time_masks, self.time_width)):
            size = features.size(axis)
            for _ in range(count):
                width = draw.randint(0, min(max_width, size))
                masked.narrow(axis, draw.randint(0, size - width), width).zero_()
        return masked


@dataclass(frozen=True)
class SpeedPerturbation:
    """Speed perturbation (Ko et al. 2015, as in Kaldi): the waveform played `factor` times as fast, tempo and
    pitch together, by resampling; a factor drawn from `factors` per utterance and epoch. A waveform of n
    samples becomes ceil(n / factor) samples long (factor 1.1: 16000 -> 14546), so its features get fewer
    frames, and more for a factor below 1."""

    factors: tuple[float, ...]
    sample_rate: int

    def __post_init__(self):
        if not self.factors or min(self.factors) <= 0:
            raise ConfigError(f"data.speed_perturb must be a list of positive speed factors such as "
                              f"[0.9, 1.0, 1.1], not {list(self.factors)}")

    @cached_property
    def resamplers(self) -> dict[float, torchaudio.transforms.Resample]:
        """One resampler per factor, its filter computed once: from a rate of factor x sample_rate (the
        samples played faster) to sample_rate."""
        return {factor: torchaudio.transforms.Resample(round(self.sample_rate * factor), self.sample_rate)
                for factor in set(self.factors) if factor != 1}

    def factor(self, seed: str) -> float:
        """The speed factor of one utterance in one epoch, reproducible from `seed`."""
        return random.Random(f"speed/{seed}").choice(self.factors)

    def __call__(self, waveform: torch.Tensor, factor: float) -> torch.Tensor:
        """waveform (samples,) -> (ceil(samples / factor),)."""
        return self.resamplers[factor](waveform) if factor != 1 else waveform


class FeatureCache:
    """Features kept in memory, so that each (audio file, speed factor) is decoded and turned into log-mel
    features once per run instead of once per epoch (SpecAugment, which is drawn anew every epoch, is applied
    after the cache). On a 2-core machine reading and transforming the audio takes a fifth of a training step's
    time, time taken from the model; from the second epoch on the cache gives it back.

    Bounded: once `max_megabytes` are held, further features are computed as usual and not kept. The cache
    lives in the process that loads the data, so it needs data.num_workers=0 (worker processes start afresh
    every epoch and would lose it), which is also the fastest setting on 2 cores."""

    def __init__(self, max_megabytes: float):
        self.max_bytes = int(max_megabytes * 2**20)
        self.held_bytes = 0
        self.features: dict[tuple[str, float], torch.Tensor] = {}

    def get(self, key: tuple[str, float], compute) -> torch.Tensor:
        features = self.features.get(key)
        if features is None:
            features = compute()
            size = features.numel() * features.element_size()
            if self.held_bytes + size <= self.max_bytes:
                self.features[key] = features
                self.held_bytes += size
        return features


@dataclass(frozen=True)
class UtteranceLoader:
    """An utterance -> its log-mel features (1, n_mels, frames); on the training split speed-perturbed and
    SpecAugment-masked, as `draw` decides."""

    preprocessor: AudioPreprocessor
    speed_perturbation: SpeedPerturbation | None = None
    spec_augment: SpecAugment | None = None
    cache: FeatureCache | None = None

    def __call__(self, utterance: Utterance, draw: str) -> torch.Tensor:
        factor = 1.0 if self.speed_perturbation is None else self.speed_perturbation.factor(draw)
        if self.cache is None:
            features = self.features(utterance, factor)
        else:
            features = self.cache.get((str(utterance.audio_path), factor), lambda: self.features(utterance, factor))
        if self.spec_augment is not None:
            features = self.spec_augment(features, draw)  # a masked copy: the cached features stay clean
        return features

    def features(self, utterance: Utterance, factor: float) -> torch.Tensor:
        """(1, n_mels, frames) log-mel features of the utterance played `factor` times as fast."""
        waveform = self.preprocessor.read(utterance.audio_path)  # (samples,)
        if factor != 1:
            waveform = self.speed_perturbation(waveform, factor)
        return self.preprocessor(waveform)


class SpeechDataModule(TranscribedDataModule):
    """Base data module for speech; subclasses implement `read_splits()`. The alphabet is the 28 symbols of
    English speech (A-Z, apostrophe, space) unless `alphabet` names a file; transcripts are upper-cased.
    Batches hold utterances of similar length, at most `batch_size` of them and at most `max_frames` padded
    feature frames in all (items x longest), counted at the recorded speed: with `speed_perturb` factors
    below 1, a training batch can hold up to max_frames / min(factors) frames (11 % more for 0.9)."""

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
        speed_perturb: list[float] | None = None,
        spec_augment: dict | None = None,
        feature_cache_mb: float = 0,
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
        self.speed_perturbation = (SpeedPerturbation(tuple(speed_perturb), sample_rate)
                                   if speed_perturb is not None else None)
        self.spec_augment = SpecAugment(**spec_augment) if spec_augment is not None else None
        self.max_total_length = max_frames
        if feature_cache_mb and num_workers:
            raise ConfigError(f"data.feature_cache_mb={feature_cache_mb} needs data.num_workers=0: worker processes "
                              "start afresh every epoch and would lose the cache")
        self.feature_cache = FeatureCache(feature_cache_mb) if feature_cache_mb else None

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
        if split != "train":
            return UtteranceLoader(self.preprocessor, cache=self.feature_cache)
        return UtteranceLoader(self.preprocessor, self.speed_perturbation, self.spec_augment, self.feature_cache)

"""Everything the line-image data modules share: samples, dataset, image sizes (the alphabet, checks and
loaders are datamodules/transcribed.py's, the batching datamodules/batching.py's).

A concrete data module (IAM, a manifest, the synthetic set) only says which samples each split holds, by
implementing `read_splits()`. This module turns them into padded batches:

    LineSample -> image file -> (augment) -> ImagePreprocessor -> (1, H, W) tensor -> collate_lines ->
    images (N, 1, H, W_max), widths (N,), targets (N, S_max), target_lengths (N,)
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, NamedTuple

import torch
from PIL import Image

from datamodules.image_augment import ImageAugmenter
from datamodules.transcribed import TranscribedDataModule, check_positive, warn_empty_transcripts
from recog.ctc.loss import min_frames_needed
from recog.images import ImagePreprocessor, ImageReadError, load_grayscale
from recog.text import TextNormalizer

log = logging.getLogger(__name__)


class InfeasibleSample(NamedTuple):
    """A line too narrow for CTC to emit its transcript (case B01)."""

    id: str
    num_frames: int  # output frames the model makes from the image
    frames_needed: int  # |l| + adjacent repeated characters


@dataclass(frozen=True)
class LineSample:
    id: str
    image_path: Path
    text: str
    writer: str | None = None
    size: tuple[int, int] | None = None  # (width, height) of the original image, for batching by width


@dataclass(frozen=True)
class LineImageLoader:
    """A line sample -> its image tensor (1, H, W): decode, distort (training), normalise."""

    preprocessor: ImagePreprocessor
    augmenter: ImageAugmenter | None = None

    def __call__(self, sample: LineSample, draw: str) -> torch.Tensor:
        image = load_grayscale(sample.image_path)
        if self.augmenter is not None:
            image = self.augmenter(image, random.Random(draw))
        return self.preprocessor(image)


class LineImageDataModule(TranscribedDataModule):
    """Base data module for line images; subclasses implement `read_splits()`. The alphabet and the checks
    are TranscribedDataModule's."""

    def __init__(
        self,
        height: int = 32,
        min_width: int = 16,
        batch_size: int = 16,
        eval_batch_size: int = 32,
        num_workers: int = 1,
        alphabet: str | None = None,
        unknown_chars: str = "skip",
        normalizer: dict | None = None,
        augment: dict | None = None,
        on_bad_sample: str = "skip",
        seed: int = 0,
    ):
        super().__init__(batch_size, eval_batch_size, num_workers, alphabet, unknown_chars, normalizer,
                         on_bad_sample, seed)
        check_positive(height=height, min_width=min_width)
        self.preprocessor = ImagePreprocessor(height=height, min_width=min_width)
        self.augmenter = ImageAugmenter(**augment) if augment is not None else None

    def setup_evaluation(self, preprocessor: ImagePreprocessor, normalizer: TextNormalizer) -> None:
        """Read the splits for scoring a trained model: its preprocessing and normalisation, every line
        kept with its reference untouched (no alphabet filter), no targets encoded."""
        self.preprocessor, self.normalizer, self.alphabet = preprocessor, normalizer, None
        self.splits = {name: self.prepare_samples(name, samples) for name, samples in self.read_splits().items()}

    def prepare_samples(self, split: str, samples: list[LineSample]) -> list[LineSample]:
        """Normalise the transcripts and read each image's size from its header (which also finds missing
        and unreadable files before training); bad images follow on_bad_sample."""
        prepared = []
        for sample in samples:
            size = read_image_size(sample.image_path)
            if size is None:
                message = f"{split} sample {sample.id}: cannot open image {sample.image_path}"
                if self.on_bad_sample == "fail":
                    raise ImageReadError(message)
                log.warning("%s (skipped)", message)
                continue
            prepared.append(replace(sample, text=self.normalizer(sample.text), size=size))
        warn_empty_transcripts(split, prepared, self.items)
        return prepared

    def input_loader(self, split: str) -> LineImageLoader:
        return LineImageLoader(self.preprocessor, self.augmenter if split == "train" else None)

    def sample_lengths(self, samples: list[LineSample]) -> list[int]:
        return [self.preprocessor.scaled_width(*s.size) for s in samples]

    def infeasible_samples(self, split: str,
                           output_lengths: Callable[[torch.Tensor], torch.Tensor]) -> list[InfeasibleSample]:
        """Samples whose line is too narrow for CTC to emit its transcript (case B01).

        Uses the same width arithmetic as the model: original size -> normalised width -> output frames,
        which must be at least |l| + number of adjacent repeated characters.
        """
        samples = self.splits[split]
        if not samples:
            return []
        widths = torch.tensor([max(self.preprocessor.min_width, self.preprocessor.scaled_width(*s.size))
                               for s in samples])
        encoded = [self.alphabet.encode(s.text) for s in samples]
        target_lengths = torch.tensor([len(e) for e in encoded])
        targets = torch.zeros(len(samples), int(target_lengths.max()), dtype=torch.long)
        for row, labels in enumerate(encoded):
            targets[row, : len(labels)] = torch.tensor(labels, dtype=torch.long)
        num_frames = output_lengths(widths)  # (N,)
        frames_needed = min_frames_needed(targets, target_lengths)  # (N,)
        return [InfeasibleSample(sample.id, frames, needed)
                for sample, frames, needed in zip(samples, num_frames.tolist(), frames_needed.tolist())
                if frames < needed]


def read_image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the image header, or None if the file cannot be opened."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError):
        return None

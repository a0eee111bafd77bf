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

import torch
from PIL import Image

from datamodules.image_augment import ImageAugmenter
from datamodules.transcribed import TranscribedDataModule, check_positive, warn_empty_transcripts
from recog.images import ImagePreprocessor, ImageReadError, load_grayscale

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LineSample:
    id: str
    image_path: Path
    text: str
    writer: str | None = None
    size: tuple[int, int] | None = None  # (width, height) of the original image, for batching by width

    @property
    def input_path(self) -> Path:
        """The file the model reads (every sample type has one: see Utterance)."""
        return self.image_path


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
        """Width of each line's tensor: height-normalised, padded up to min_width."""
        return [max(self.preprocessor.min_width, self.preprocessor.scaled_width(*s.size)) for s in samples]


def read_image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the image header, or None if the file cannot be opened."""
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, ValueError):
        return None

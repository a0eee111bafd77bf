"""Everything the line-image data modules share: samples, dataset, padding, batching, the alphabet check.

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
from typing import Callable, NamedTuple, Sequence

import pytorch_lightning as pl
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from datamodules.batching import LengthBucketBatchSampler
from datamodules.image_augment import ImageAugmenter
from recog.alphabet import (UNKNOWN_CHAR_POLICIES, UNKNOWN_SYMBOL, Alphabet, find_unknown_characters,
                            format_unknown_report)
from recog.ctc.loss import min_frames_needed
from recog.errors import ConfigError, DataError
from recog.images import ImagePreprocessor, ImageReadError, load_grayscale
from recog.text import TextNormalizer

log = logging.getLogger(__name__)
BAD_SAMPLE_POLICIES = ("skip", "fail")


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


class LineImageDataset(Dataset):
    """Loads, augments and normalises one line image per item and encodes its transcript.

    A sample whose image cannot be read is logged with its id and returned as None (policy "skip"; the
    collate function drops it and counts it), or raises (policy "fail").

    Items are requested as (index, epoch) by LengthBucketBatchSampler (a plain index means epoch 0), so a
    sample's distortion is reproducible from (seed, epoch, index), also in worker processes.
    """

    def __init__(self, samples: Sequence[LineSample], alphabet: Alphabet | None, preprocessor: ImagePreprocessor,
                 augmenter: ImageAugmenter | None = None, on_bad_sample: str = "skip", seed: int = 0):
        self.samples = list(samples)
        self.alphabet = alphabet
        self.preprocessor = preprocessor
        self.augmenter = augmenter
        self.on_bad_sample = on_bad_sample
        self.seed = seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: int | tuple[int, int]) -> dict | None:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        sample = self.samples[index]
        try:
            image = load_grayscale(sample.image_path)
        except ImageReadError as error:
            if self.on_bad_sample == "fail":
                raise
            log.warning("skipping sample %s: %s", sample.id, error)
            return None
        if self.augmenter is not None:
            image = self.augmenter(image, random.Random(f"{self.seed}/{epoch}/{index}"))
        return {
            "id": sample.id,
            "image": self.preprocessor(image),
            "text": sample.text,
            "target": self.encode(sample.text),
        }


    def encode(self, text: str) -> torch.Tensor:
        """Class indices (S,); empty when there is no alphabet (evaluation needs no targets)."""
        labels = self.alphabet.encode(text) if self.alphabet is not None else []
        return torch.tensor(labels, dtype=torch.long)


def collate_lines(items: list[dict | None]) -> dict:
    """Pad a list of dataset items into one batch; unreadable items (None) are dropped and counted."""
    good = [item for item in items if item is not None]
    widths = torch.tensor([item["image"].size(-1) for item in good], dtype=torch.long)
    target_lengths = torch.tensor([len(item["target"]) for item in good], dtype=torch.long)
    height = good[0]["image"].size(-2) if good else 1
    images = torch.zeros(len(good), 1, height, int(widths.max()) if good else 1)
    targets = torch.zeros(len(good), int(target_lengths.max()) if good else 0, dtype=torch.long)
    for row, item in enumerate(good):
        images[row, :, :, : widths[row]] = item["image"]
        targets[row, : target_lengths[row]] = item["target"]
    return {
        "ids": [item["id"] for item in good],
        "texts": [item["text"] for item in good],
        "images": images,  # (N, 1, H, W_max), zero = paper
        "widths": widths,  # (N,)
        "targets": targets,  # (N, S_max), zero-padded
        "target_lengths": target_lengths,  # (N,)
        "num_skipped": len(items) - len(good),
    }


class LineImageDataModule(pl.LightningDataModule):
    """Base data module for line images; subclasses implement `read_splits()`.

    The alphabet is read from `alphabet` (a file, one symbol per line) when given, else built from the
    training transcripts (extending `base_alphabet` when fine-tuning from a checkpoint). Transcripts with
    characters outside it are reported by character and line id before training; `unknown_chars` decides
    what happens to them (cases B04, B20): "skip" drops the line, "unknown" maps the characters to the
    symbol "\ufffd", "fail" stops before training.
    """

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
        super().__init__()
        if unknown_chars not in UNKNOWN_CHAR_POLICIES:
            raise ConfigError(f"data.unknown_chars must be one of {UNKNOWN_CHAR_POLICIES}, not {unknown_chars!r}")
        if on_bad_sample not in BAD_SAMPLE_POLICIES:
            raise ConfigError(f"data.on_bad_sample must be one of {BAD_SAMPLE_POLICIES}, not {on_bad_sample!r}")
        for name, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size),
                            ("height", height), ("min_width", min_width)):
            if value < 1:
                raise ConfigError(f"data.{name} must be a positive integer, not {value}")
        self.preprocessor = ImagePreprocessor(height=height, min_width=min_width)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.alphabet_file = alphabet
        self.unknown_chars = unknown_chars
        self.normalizer = TextNormalizer.from_dict(normalizer)
        self.augmenter = ImageAugmenter(**augment) if augment is not None else None
        self.on_bad_sample = on_bad_sample
        self.seed = seed
        self.base_alphabet: Alphabet | None = None
        self.alphabet: Alphabet | None = None
        self.splits: dict[str, list[LineSample]] = {}
        self.unknown_characters: dict[str, dict[str, list[str]]] = {}  # split -> character -> line ids

    def read_splits(self) -> dict[str, list[LineSample]]:
        """Samples of each split ("train", "val", optionally "test"), text not yet normalised."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        splits = {name: self._prepare_samples(name, samples) for name, samples in self.read_splits().items()}
        self.alphabet = self._choose_alphabet(splits.get("train", []))
        self.splits = {name: self._apply_alphabet_policy(name, samples) for name, samples in splits.items()}
        for name, samples in self.splits.items():
            log.info("%s: %d lines", name, len(samples))
        if stage == "fit":
            self._check_training_splits()

    def _check_training_splits(self) -> None:
        """Training needs lines in train and val: fail now, not after the first epoch."""
        for name in ("train", "val"):
            if name not in self.splits:
                raise DataError(f"no {name} split: set data.splits.{name} (a file of line or form ids)")
            if not self.splits[name]:
                raise DataError(f"the {name} split has no usable lines (see the warnings above: unreadable "
                                "images, characters outside the alphabet, or a writer selection that leaves "
                                f"nothing for {name})")

    def setup_evaluation(self, preprocessor: ImagePreprocessor, normalizer: TextNormalizer) -> None:
        """Read the splits for scoring a trained model: its preprocessing and normalisation, every line
        kept with its reference untouched (no alphabet filter), no targets encoded."""
        self.preprocessor, self.normalizer, self.alphabet = preprocessor, normalizer, None
        self.splits = {name: self._prepare_samples(name, samples) for name, samples in self.read_splits().items()}

    def _prepare_samples(self, split: str, samples: list[LineSample]) -> list[LineSample]:
        """Normalise the transcripts and read each image's size from its header (which also finds missing
        and unreadable files before training); bad images follow on_bad_sample."""
        prepared, empty = [], []
        for sample in samples:
            size = read_image_size(sample.image_path)
            if size is None:
                message = f"{split} sample {sample.id}: cannot open image {sample.image_path}"
                if self.on_bad_sample == "fail":
                    raise ImageReadError(message)
                log.warning("%s (skipped)", message)
                continue
            prepared.append(replace(sample, text=self.normalizer(sample.text), size=size))
            if not prepared[-1].text:
                empty.append(sample.id)
        if empty:
            log.warning("%s: %d lines have an empty transcript (kept; CTC learns all-blank for them): %s",
                        split, len(empty), ", ".join(empty[:5]) + (" ..." if len(empty) > 5 else ""))
        return prepared

    def _choose_alphabet(self, train_samples: list[LineSample]) -> Alphabet:
        if self.alphabet_file is not None:
            return Alphabet.from_file(self.alphabet_file)
        train_alphabet = Alphabet.from_texts(s.text for s in train_samples)
        if self.base_alphabet is not None:
            return self.base_alphabet.extended(train_alphabet.symbols)
        return train_alphabet

    def _apply_alphabet_policy(self, split: str, samples: list[LineSample]) -> list[LineSample]:
        unknown = find_unknown_characters(self.alphabet, ((s.id, s.text) for s in samples))
        self.unknown_characters[split] = unknown
        if not unknown:
            return samples
        report = format_unknown_report(unknown)
        if self.unknown_chars == "fail":
            raise DataError(
                f"{split} transcripts contain characters outside the alphabet:\n{report}\n"
                "Add them to the alphabet, or set data.unknown_chars=skip (drop these lines) or "
                "data.unknown_chars=unknown (map them to one unknown symbol)."
            )
        if self.unknown_chars == "unknown":
            log.warning("%s: characters outside the alphabet, mapped to %r:\n%s", split, UNKNOWN_SYMBOL, report)
            self.alphabet = self.alphabet.extended([UNKNOWN_SYMBOL])
            return samples
        bad_ids = {line_id for line_ids in unknown.values() for line_id in line_ids}
        log.warning("%s: skipping %d lines with characters outside the alphabet:\n%s", split, len(bad_ids), report)
        return [s for s in samples if s.id not in bad_ids]

    def dataset(self, split: str) -> LineImageDataset:
        if split not in self.splits:
            raise DataError(f"this data module has no {split!r} split (it has {sorted(self.splits)})")
        augmenter = self.augmenter if split == "train" else None
        return LineImageDataset(self.splits[split], self.alphabet, self.preprocessor, augmenter,
                                self.on_bad_sample, self.seed)

    def dataloader(self, split: str) -> DataLoader:
        dataset = self.dataset(split)
        training = split == "train"
        widths = [self.preprocessor.scaled_width(*s.size) for s in dataset.samples]
        sampler = LengthBucketBatchSampler(widths, self.batch_size if training else self.eval_batch_size,
                                           shuffle=training, seed=self.seed)
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_lines,
                          num_workers=self.num_workers, persistent_workers=False)

    def train_dataloader(self) -> DataLoader:
        return self.dataloader("train")

    def val_dataloader(self) -> DataLoader:
        return self.dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.dataloader("test")

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

"""Batches, shared by every modality: which items go together (by image width or audio frame count) and how
they are padded into one batch.

Items of similar length go together so that padding stays small. A batch is cut at `batch_size` items, and,
with a budget, before its padded size (items x longest) would exceed `max_total_length`.
"""
from __future__ import annotations

import random
from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class LengthBucketBatchSampler(Sampler[list[tuple[int, int]]]):
    """Shuffle, sort within pools of `pool_batches` batches, cut into batches, shuffle the batches.

    Deterministic for a given (seed, epoch); Lightning calls set_epoch at the start of every epoch. Without
    shuffling, batches are simply sorted by length. Each index is yielded with the epoch, (index, epoch), so
    a dataset can make its augmentation reproducible from (seed, epoch, index).
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, shuffle: bool, seed: int = 0,
                 pool_batches: int = 50, max_total_length: int | None = None):
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.pool_batches = pool_batches
        self.max_total_length = max_total_length
        self.epoch = 0

    @property
    def sampler(self) -> "LengthBucketBatchSampler":
        """Lightning looks for set_epoch on `batch_sampler.sampler`; this sampler is its own."""
        return self

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.max_total_length is None:
            return (len(self.lengths) + self.batch_size - 1) // self.batch_size
        return len(self.batches())

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        return iter([[(index, self.epoch) for index in batch] for batch in self.batches()])

    def batches(self) -> list[list[int]]:
        """This epoch's batches of indices, each sorted by length."""
        rng = random.Random(f"{self.seed}/{self.epoch}")
        order = list(range(len(self.lengths)))
        if self.shuffle:
            rng.shuffle(order)
        pool_size = self.batch_size * self.pool_batches if self.shuffle else len(order)
        batches = []
        for start in range(0, len(order), pool_size):
            batches += self.cut(sorted(order[start : start + pool_size], key=self.lengths.__getitem__))
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def cut(self, pool: list[int]) -> list[list[int]]:
        """Cut indices sorted by length into batches: at batch_size items, or before the padded size
        (items x the last, longest, length) would pass the budget; an over-long item is a batch of its own."""
        batches, batch = [], []
        for index in pool:
            if batch and (len(batch) == self.batch_size or self.over_budget(len(batch) + 1, self.lengths[index])):
                batches.append(batch)
                batch = []
            batch.append(index)
        return batches + [batch] if batch else batches

    def over_budget(self, num_items: int, longest: int) -> bool:
        return self.max_total_length is not None and num_items * longest > self.max_total_length


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
        "images": images,  # (N, 1, H, W_max): image lines (zero = paper) or log-mel features (H = n_mels)
        "widths": widths,  # (N,)
        "targets": targets,  # (N, S_max), zero-padded
        "target_lengths": target_lengths,  # (N,)
        "num_skipped": len(items) - len(good),
    }

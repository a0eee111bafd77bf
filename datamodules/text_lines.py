"""Text for language models: a UTF-8 file, one sentence per line -> batches of (<s> text, text </s>) tokens.

The alphabet is the recognizer's (data.alphabet = the run folder's alphabet.txt), so the LM predicts exactly the
characters the model writes, or, without one, every character of the training text. Lines with characters
outside a given alphabet are dropped and reported by character, with line numbers. Validation lines are a
seeded random `val_fraction` of the file, or a file of their own.
"""
from __future__ import annotations

import logging
import random
from collections import Counter

import pytorch_lightning as pl
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset

from datamodules.batching import LengthBucketBatchSampler
from recog.alphabet import Alphabet
from recog.char_lm import BOUNDARY, PADDING, encode_sentence
from recog.errors import ConfigError, DataError, read_utf8_lines
from recog.text import TextNormalizer

log = logging.getLogger(__name__)


class SentenceDataset(Dataset):
    """Items (index, epoch) -> {"inputs": (L + 1,), "targets": (L + 1,)} for sentence `index`."""

    def __init__(self, sentences: list[str], alphabet: Alphabet):
        self.sentences = sentences
        self.alphabet = alphabet

    def __len__(self) -> int:
        return len(self.sentences)

    def __getitem__(self, key: tuple[int, int]) -> dict:
        inputs, targets = encode_sentence(self.alphabet, self.sentences[key[0]])
        return {"inputs": inputs, "targets": targets}


def collate_sentences(items: list[dict]) -> dict:
    """Time-major batches: inputs (T, N) padded with the boundary token, targets (T, N) padded with PADDING."""
    return {"inputs": pad_sequence([item["inputs"] for item in items], padding_value=BOUNDARY),
            "targets": pad_sequence([item["targets"] for item in items], padding_value=PADDING)}


class TextLinesDataModule(pl.LightningDataModule):
    def __init__(self, train: str, val: str | None = None, val_fraction: float = 0.05, alphabet: str | None = None,
                 normalizer: dict | None = None, max_length: int = 400, batch_size: int = 64, seed: int = 0):
        super().__init__()
        if val is None and not 0 < val_fraction < 1:
            raise ConfigError(f"data.val_fraction must be between 0 and 1 (exclusive), not {val_fraction}")
        self.paths = {"train": train, "val": val}
        self.val_fraction = val_fraction
        self.alphabet_path = alphabet
        self.normalizer = TextNormalizer.from_dict(normalizer)
        self.max_length = max_length
        self.batch_size = batch_size
        self.seed = seed
        self.alphabet: Alphabet | None = None
        self.sentences: dict[str, list[str]] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.sentences:
            return
        numbered = {split: self.read(path) for split, path in self.paths.items() if path is not None}
        if self.paths["val"] is None:
            numbered["train"], numbered["val"] = self.split_off_validation(numbered["train"])
        self.alphabet = Alphabet.from_file(self.alphabet_path) if self.alphabet_path else \
            Alphabet.from_texts(text for _, text in numbered["train"])
        self.sentences = {split: self.writable(split, lines) for split, lines in numbered.items()}
        log.info("language model text: %d training and %d validation sentences, %d characters in the alphabet",
                 len(self.sentences["train"]), len(self.sentences["val"]), len(self.alphabet))

    def read(self, path: str) -> list[tuple[int, str]]:
        """(line number, normalised text) of every non-blank line, cut to max_length characters."""
        lines = [(number, self.normalizer(line)[: self.max_length])
                 for number, line in enumerate(read_utf8_lines(path), start=1)]
        lines = [(number, text) for number, text in lines if text.strip()]
        if not lines:
            raise DataError(f"{path}: no text to train a language model on (no non-blank line)")
        return lines

    def split_off_validation(self, lines: list[tuple[int, str]]) -> tuple[list, list]:
        shuffled = random.Random(self.seed).sample(lines, len(lines))
        count = max(1, round(len(lines) * self.val_fraction))
        if count >= len(lines):
            raise DataError(f"{self.paths['train']}: {len(lines)} line(s) cannot be split into training and "
                            "validation text; give more text or data.val=FILE")
        return sorted(shuffled[count:]), sorted(shuffled[:count])

    def writable(self, split: str, lines: list[tuple[int, str]]) -> list[str]:
        """The texts of `lines` written in the alphabet; the others are dropped and reported."""
        kept, unknown = [], Counter()
        first_lines: dict[str, int] = {}
        for number, text in lines:
            missing = self.alphabet.unknown_characters(text)
            if missing:
                unknown.update(missing)
                for character in missing:
                    first_lines.setdefault(character, number)
            else:
                kept.append(text)
        if unknown:
            report = ", ".join(f"{c!r} (U+{ord(c):04X}, {n} times, first on line {first_lines[c]})"
                               for c, n in unknown.most_common(10))
            log.warning("%s: %d of %d %s lines have characters outside the alphabet and are dropped: %s",
                        self.paths[split] or self.paths["train"], len(lines) - len(kept), len(lines), split, report)
        if not kept:
            raise DataError(f"{self.paths[split] or self.paths['train']}: no {split} line is written in the "
                            "alphabet; check data.alphabet and data.normalizer (case)")
        return kept

    def dataloader(self, split: str) -> DataLoader:
        sentences = self.sentences[split]
        sampler = LengthBucketBatchSampler([len(text) for text in sentences], self.batch_size,
                                           shuffle=split == "train", seed=self.seed)
        return DataLoader(SentenceDataset(sentences, self.alphabet), batch_sampler=sampler,
                          collate_fn=collate_sentences)

    def train_dataloader(self) -> DataLoader:
        return self.dataloader("train")

    def val_dataloader(self) -> DataLoader:
        return self.dataloader("val")

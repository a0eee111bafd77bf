"""What every data module of transcribed samples shares, whatever the modality (line images, speech).

A sample is anything with an `id` and a `text`. A concrete modality says how a split's samples are prepared
(`prepare_samples`), how long each one is for batching (`sample_lengths`) and how they are loaded
(`dataset`); a concrete corpus says which samples each split holds (`read_splits`). This base normalises the
transcripts, chooses the alphabet, applies the unknown-character policy, checks the training splits and
builds length-bucketed loaders that pad with `collate_lines`.
"""
from __future__ import annotations

import logging
from typing import Callable, NamedTuple, Sequence

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from datamodules.batching import LengthBucketBatchSampler, collate_lines
from recog.alphabet import (UNKNOWN_CHAR_POLICIES, UNKNOWN_SYMBOL, Alphabet, find_unknown_characters,
                            format_unknown_report)
from recog.ctc.loss import min_frames_needed
from recog.errors import ConfigError, DataError, InputReadError
from recog.text import TextNormalizer

log = logging.getLogger(__name__)
BAD_SAMPLE_POLICIES = ("skip", "fail")


class InfeasibleSample(NamedTuple):
    """A sample too short for CTC to emit its transcript (case B01)."""

    id: str
    num_frames: int  # output frames the model makes from the input
    frames_needed: int  # |l| + adjacent repeated characters


class TranscribedDataModule(pl.LightningDataModule):
    """The alphabet is read from `alphabet` (a file, one symbol per line) when given, else it is the
    modality's fixed `default_symbols` when it has them, else it is built from the training transcripts
    (extending `base_alphabet` when fine-tuning from a checkpoint). Transcripts with characters outside it
    are reported by character and sample id before training; `unknown_chars` decides what happens to them
    (cases B04, B20): "skip" drops the sample, "unknown" maps the characters to the symbol "\ufffd", "fail"
    stops before training.
    """

    default_symbols: Sequence[str] | None = None  # a fixed alphabet; None = from the training transcripts
    items = "lines"  # what a sample is called in messages
    split_hint = "a file of line or form ids"  # what data.splits.<name> expects, for the missing-split error

    def __init__(self, batch_size: int, eval_batch_size: int, num_workers: int, alphabet: str | None,
                 unknown_chars: str, normalizer: dict | None, on_bad_sample: str, seed: int):
        super().__init__()
        if unknown_chars not in UNKNOWN_CHAR_POLICIES:
            raise ConfigError(f"data.unknown_chars must be one of {UNKNOWN_CHAR_POLICIES}, not {unknown_chars!r}")
        if on_bad_sample not in BAD_SAMPLE_POLICIES:
            raise ConfigError(f"data.on_bad_sample must be one of {BAD_SAMPLE_POLICIES}, not {on_bad_sample!r}")
        check_positive(batch_size=batch_size, eval_batch_size=eval_batch_size)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.alphabet_file = alphabet
        self.unknown_chars = unknown_chars
        self.normalizer = TextNormalizer.from_dict(normalizer)
        self.on_bad_sample = on_bad_sample
        self.seed = seed
        self.resume_position: tuple[int, int] | None = None  # from a checkpoint: see state_dict
        self.max_total_length: int | None = None  # padded length budget per batch (sum over the batch)
        self.base_alphabet: Alphabet | None = None
        self.alphabet: Alphabet | None = None
        self.splits: dict[str, list] = {}
        self.unknown_characters: dict[str, dict[str, list[str]]] = {}  # split -> character -> sample ids

    def read_splits(self) -> dict[str, list]:
        """Samples of each split ("train", "val", optionally "test"), text not yet normalised."""
        raise NotImplementedError

    def prepare_samples(self, split: str, samples: list) -> list:
        """The split's samples with normalised transcripts and what batching needs; bad files follow
        on_bad_sample."""
        raise NotImplementedError

    def sample_lengths(self, samples: list) -> list[int]:
        """Each sample's length along the padded axis (image width, feature frames), for batching."""
        raise NotImplementedError

    def input_loader(self, split: str) -> Callable[[object, str], torch.Tensor]:
        """What turns one sample of the split into its input tensor: (sample, draw) -> (1, H, W), where
        draw seeds the split's random augmentation (training only)."""
        raise NotImplementedError

    def dataset(self, split: str) -> TranscribedDataset:
        return TranscribedDataset(self.samples(split), self.alphabet, self.input_loader(split),
                                  self.on_bad_sample, self.seed)

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        splits = {name: self.prepare_samples(name, samples) for name, samples in self.read_splits().items()}
        self.alphabet = self.choose_alphabet(splits.get("train", []))
        self.splits = {name: self.apply_alphabet_policy(name, samples) for name, samples in splits.items()}
        for name, samples in self.splits.items():
            log.info("%s: %d %s", name, len(samples), self.items)
        if stage == "fit":
            self.check_training_splits()

    def setup_evaluation(self, preprocessor, normalizer: TextNormalizer, split: str) -> None:
        """Read the splits for scoring a trained model on `split`: its preprocessing and normalisation, every
        sample kept with its reference untouched (no alphabet filter), no targets encoded."""
        if preprocessor.modality != self.preprocessor.modality:
            raise ConfigError(f"the checkpoint is a model of {preprocessor.modality} input but this data module "
                              f"reads {self.preprocessor.modality}: choose data= of the model's modality")
        self.preprocessor, self.normalizer, self.alphabet = preprocessor, normalizer, None
        self.splits = {name: self.prepare_samples(name, samples) for name, samples in self.read_splits().items()}
        self.samples(split)  # a clear error now if the data module has no such split

    def infeasible_samples(self, split: str,
                           output_lengths: Callable[[torch.Tensor], torch.Tensor]) -> list[InfeasibleSample]:
        """Samples too short for CTC to emit their transcript (case B01): the model's output length for the
        sample's input length (the same arithmetic as the model) is below |l| + adjacent repeats."""
        samples = self.splits[split]
        if not samples:
            return []
        encoded = [self.alphabet.encode(s.text) for s in samples]
        target_lengths = torch.tensor([len(labels) for labels in encoded])
        targets = torch.zeros(len(samples), int(target_lengths.max()), dtype=torch.long)
        for row, labels in enumerate(encoded):
            targets[row, : len(labels)] = torch.tensor(labels, dtype=torch.long)
        num_frames = output_lengths(torch.tensor(self.sample_lengths(samples)))  # (N,)
        frames_needed = min_frames_needed(targets, target_lengths)  # (N,)
        return [InfeasibleSample(sample.id, frames, needed)
                for sample, frames, needed in zip(samples, num_frames.tolist(), frames_needed.tolist())
                if frames < needed]

    def check_training_splits(self) -> None:
        """Training needs samples in train and val: fail now, not after the first epoch."""
        for name in ("train", "val"):
            if name not in self.splits:
                raise DataError(f"no {name} split: set data.splits.{name} ({self.split_hint})")
            if not self.splits[name]:
                raise DataError(f"the {name} split has no usable {self.items} (see the warnings above: "
                                "unreadable files, characters outside the alphabet, or a selection that "
                                f"leaves nothing for {name})")

    def choose_alphabet(self, train_samples: list) -> Alphabet:
        if self.alphabet_file is not None:
            return Alphabet.from_file(self.alphabet_file)
        found = (Alphabet(self.default_symbols) if self.default_symbols is not None
                 else Alphabet.from_texts(s.text for s in train_samples))
        if self.base_alphabet is not None:
            return self.base_alphabet.extended(found.symbols)
        return found

    def apply_alphabet_policy(self, split: str, samples: list) -> list:
        unknown = find_unknown_characters(self.alphabet, ((s.id, s.text) for s in samples))
        self.unknown_characters[split] = unknown
        if not unknown:
            return samples
        report = format_unknown_report(unknown)
        if self.unknown_chars == "fail":
            raise DataError(
                f"{split} transcripts contain characters outside the alphabet:\n{report}\n"
                f"Add them to the alphabet, or set data.unknown_chars=skip (drop these {self.items}) or "
                "data.unknown_chars=unknown (map them to one unknown symbol)."
            )
        if self.unknown_chars == "unknown":
            log.warning("%s: characters outside the alphabet, mapped to %r:\n%s", split, UNKNOWN_SYMBOL, report)
            self.alphabet = self.alphabet.extended([UNKNOWN_SYMBOL])
            return samples
        bad_ids = {sample_id for sample_ids in unknown.values() for sample_id in sample_ids}
        log.warning("%s: skipping %d %s with characters outside the alphabet:\n%s", split, len(bad_ids),
                    self.items, report)
        return [s for s in samples if s.id not in bad_ids]

    def samples(self, split: str) -> list:
        if split not in self.splits:
            raise DataError(f"this data module has no {split!r} split (it has {sorted(self.splits)})")
        return self.splits[split]

    def dataloader(self, split: str) -> DataLoader:
        """Length-bucketed batches of this process's share of the split (all of it outside a distributed
        run); after a resume, the training loader starts where the checkpoint left off (see state_dict). Each
        loader has its own random generator (it only seeds the workers), so iterating draws nothing from the
        global ones that dropout uses (recog/resume.py)."""
        dataset = self.dataset(split)
        training = split == "train"
        num_processes, rank = self.process_share()
        sampler = LengthBucketBatchSampler(self.sample_lengths(self.samples(split)),
                                           self.batch_size if training else self.eval_batch_size,
                                           shuffle=training, seed=self.seed, max_total_length=self.max_total_length,
                                           num_replicas=num_processes, rank=rank)
        if training and self.resume_position is not None:
            sampler.resume_at = self.resume_position
            sampler.set_epoch(self.resume_position[0])
            self.resume_position = None
        return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate_lines, num_workers=self.num_workers,
                          persistent_workers=False, generator=torch.Generator().manual_seed(self.seed))

    def state_dict(self) -> dict:
        """The position in training, which Lightning saves in every checkpoint: (epoch, batches of it already
        trained on). A checkpoint written at an epoch's end points to the start of the next epoch.

        Restored by load_state_dict before the training loader is built, which then starts there: the epoch's
        order is drawn from (seed, epoch), so the batches it skips are exactly those trained on. (The loader
        must know before it is built: Lightning starts iterating it, and its worker processes prefetch
        batches, before it restores the loop state; and the loader cannot count the batches trained on
        itself, since Lightning fetches one batch ahead.)"""
        if self.trainer is None:
            return {}
        epoch = self.trainer.current_epoch
        done = self.trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if done >= self.trainer.num_training_batches:
            epoch, done = epoch + 1, 0
        return {"epoch": epoch, "batches_done": done}

    def load_state_dict(self, state: dict) -> None:
        if state:
            self.resume_position = (state["epoch"], state["batches_done"])

    def process_share(self) -> tuple[int, int]:
        """(number of processes, this one's rank) of the trainer's run; (1, 0) without a trainer."""
        if self.trainer is None:
            return 1, 0
        return self.trainer.world_size, self.trainer.global_rank

    def train_dataloader(self) -> DataLoader:
        return self.dataloader("train")

    def val_dataloader(self) -> DataLoader:
        return self.dataloader("val")

    def test_dataloader(self) -> DataLoader:
        return self.dataloader("test")


def check_positive(**settings: int) -> None:
    for name, value in settings.items():
        if value < 1:
            raise ConfigError(f"data.{name} must be a positive integer, not {value}")


def warn_empty_transcripts(split: str, samples: list, items: str) -> None:
    empty = [s.id for s in samples if not s.text]
    if empty:
        log.warning("%s: %d %s have an empty transcript (kept; CTC learns all-blank for them): %s", split,
                    len(empty), items, ", ".join(empty[:5]) + (" ..." if len(empty) > 5 else ""))


class TranscribedDataset(Dataset):
    """One sample per item: its input tensor (image or features) and its encoded transcript.

    Items are the dicts collate_lines pads, for every modality ("image" holds the input (1, H, W)). A sample
    whose input file cannot be read is logged with its id and returned as None (policy "skip"; the collate
    function drops it and counts it), or raises (policy "fail"). Items are requested as (index, epoch) by
    LengthBucketBatchSampler (a plain index means epoch 0): the loader gets "seed/epoch/index" as the draw
    of its random augmentation, so it is reproducible, also in worker processes.
    """

    def __init__(self, samples: Sequence, alphabet: Alphabet | None, load_input: Callable[[object, str], torch.Tensor],
                 on_bad_sample: str = "skip", seed: int = 0):
        self.samples = list(samples)
        self.alphabet = alphabet
        self.load_input = load_input
        self.on_bad_sample = on_bad_sample
        self.seed = seed

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: int | tuple[int, int]) -> dict | None:
        index, epoch = key if isinstance(key, tuple) else (key, 0)
        sample = self.samples[index]
        try:
            inputs = self.load_input(sample, f"{self.seed}/{epoch}/{index}")
        except InputReadError as error:
            if self.on_bad_sample == "fail":
                raise
            log.warning("skipping %s: %s", sample.id, error)
            return None
        return {"id": sample.id, "image": inputs, "text": sample.text,
                "target": encode_target(self.alphabet, sample.text)}


def encode_target(alphabet: Alphabet | None, text: str) -> torch.Tensor:
    """Class indices (S,); empty when there is no alphabet (evaluation needs no targets)."""
    labels = alphabet.encode(text) if alphabet is not None else []
    return torch.tensor(labels, dtype=torch.long)

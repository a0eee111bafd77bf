"""recog-check: list the samples a training run would stumble on, before it starts. Same config as recog-train.

    recog-check                                               # the built-in data
    recog-check data=iam data.root=/data/IAM data.splits.train=tr.lst data.splits.val=va.lst

Every sample of every split of the configured data module is checked for three problems:
- unreadable: the image or audio file cannot be decoded (each file is decoded in full; a readable header is not
  enough);
- unknown characters: its transcript has characters outside the alphabet (data.alphabet, or the one built
  from the training transcripts), whatever data.unknown_chars will do with them;
- infeasible: the model's output length for the input, from the configured front end's length arithmetic
  (no trained model needed), is below |l| + adjacent repeats, so CTC cannot emit the transcript (case B01).
The problems are printed as a table and written to check.tsv in the run folder; the exit status is 1 if
there are any, 0 otherwise.
"""
from __future__ import annotations

import csv
import logging
import sys
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Callable

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import to_absolute_path
from omegaconf import DictConfig
from tqdm import tqdm

from datamodules.transcribed import TranscribedDataModule
from recog.config import CONFIG_DIR
from recog.errors import InputReadError, exit_on_user_error
from recog.recognizer import load_module
from recog.train import build_module, prepare_data

log = logging.getLogger("recog.check")


@dataclass(frozen=True)
class Problem:
    split: str
    id: str
    problem: str  # unreadable | unknown characters | infeasible
    detail: str


def lenient_data_settings(cfg: DictConfig) -> dict:
    """Data settings that let the data module keep going past bad samples, so that all of them are listed:
    unreadable images are skipped (and decoded here), and under unknown_chars=fail such lines are skipped."""
    unknown_chars = cfg.data.get("unknown_chars", "skip")
    return {"on_bad_sample": "skip", "unknown_chars": "skip" if unknown_chars == "fail" else unknown_chars}


def unreadable_samples(splits: dict[str, list], preprocessor) -> list[Problem]:
    """Decode every input file (image or audio) in full; one problem per file that fails."""
    samples = [(split, sample) for split, split_samples in splits.items() for sample in split_samples]
    problems = []
    for split, sample in tqdm(samples, desc="decoding inputs", unit="file"):
        try:
            preprocessor.read(sample.input_path)
        except InputReadError as error:
            problems.append(Problem(split, sample.id, "unreadable", str(error)))
    return problems


def unknown_character_samples(datamodule: TranscribedDataModule) -> list[Problem]:
    """The data module's findings, one problem per line listing all its unknown characters."""
    per_line: dict[tuple[str, str], list[str]] = {}
    for split, by_character in datamodule.unknown_characters.items():
        for character, line_ids in by_character.items():
            for line_id in line_ids:
                per_line.setdefault((split, line_id), []).append(f"{character!r} U+{ord(character):04X}")
    return [Problem(split, line_id, "unknown characters", ", ".join(characters))
            for (split, line_id), characters in per_line.items()]


def infeasible_samples(datamodule: TranscribedDataModule,
                       output_lengths: Callable[[torch.Tensor], torch.Tensor]) -> list[Problem]:
    return [Problem(split, sample.id, "infeasible",
                    f"{sample.num_frames} output frames < {sample.frames_needed} needed for the transcript")
            for split in datamodule.splits for sample in datamodule.infeasible_samples(split, output_lengths)]


def format_table(problems: list[Problem]) -> str:
    header = tuple(field.name for field in fields(Problem))
    rows = [header, *(astuple(problem) for problem in problems)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]  # detail: as is
    return "\n".join("  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]]).rstrip()
                     for row in rows)


def write_tsv(path: Path, problems: list[Problem]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow([field.name for field in fields(Problem)])
        writer.writerows(astuple(problem) for problem in problems)


def check_data(cfg: DictConfig) -> tuple[list[Problem], int]:
    """Every problem found, sorted by split and id, and the number of samples checked."""
    pretrained = load_module(to_absolute_path(cfg.init_from), device="cpu") if cfg.init_from else None
    datamodule = prepare_data(cfg, pretrained, stage=None, **lenient_data_settings(cfg))
    splits = datamodule.read_splits()
    module = build_module(cfg, datamodule, pretrained)
    problems = (unreadable_samples(splits, datamodule.preprocessor) + unknown_character_samples(datamodule)
                + infeasible_samples(datamodule, module.model.output_lengths))
    split_order = {split: position for position, split in enumerate(splits)}
    problems.sort(key=lambda problem: (split_order.get(problem.split, len(split_order)), problem.id))
    return problems, sum(len(samples) for samples in splits.values())


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    problems, num_samples = check_data(cfg)
    tsv = Path(HydraConfig.get().runtime.output_dir) / "check.tsv"
    write_tsv(tsv, problems)
    if not problems:
        print(f"all {num_samples} samples are fine (readable, known characters, feasible for CTC)")
        return
    print(format_table(problems))
    num_bad = len({(problem.split, problem.id) for problem in problems})
    print(f"{len(problems)} problems in {num_bad} of {num_samples} samples; the table is in {tsv}")
    sys.exit(1)


if __name__ == "__main__":
    main()

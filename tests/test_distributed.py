"""Distributed training and validation on 2 CPU processes (ddp_spawn, gloo): case B24, one run folder."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from torch import nn

from datamodules.transcribed import TranscribedDataModule
from recog.images import ImagePreprocessor
from recog.lightning_module import CTCRecognitionModule
from tests.conftest import TINY_MODEL, run, synthetic_data

# Case B24: 5 validation utterances, 14 reference words, one wrong word ("e" read as "a"): WER 1/14. Scoring
# any utterance twice changes it (a padded 6th utterance of 2 or 3 words gives 1/16, 2/16, 1/17 or 2/17).
B24_UTTERANCES = [("u1", "a b", "a b"), ("u2", "c d e", "c d a"), ("u3", "f g h", "f g h"),
                  ("u4", "a c e", "a c e"), ("u5", "b d f", "b d f")]
B24_SYMBOLS = list(" abcdefgh")


class OracleRecognizer(nn.Module):
    """A 'model' whose greedy output is written in its input: column t of row 0 holds the class of frame t,
    so the hypotheses are known and everything after the model (decoding, scoring, summing) is real."""

    def __init__(self, num_classes: int, input_height: int):
        super().__init__()
        self.num_classes = num_classes
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, inputs: torch.Tensor, input_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """inputs (N, 1, 1, T) class indices -> log_probs (T, N, C) peaked on them, output_lengths (N,)."""
        classes = inputs[:, 0, 0, :].long().transpose(0, 1)  # (T, N)
        logits = 10.0 * nn.functional.one_hot(classes, self.num_classes).float()
        return torch.log_softmax(logits, dim=-1), input_lengths


class OracleDataModule(TranscribedDataModule):
    """The B24 utterances as the validation split; each input encodes its hypothesis for OracleRecognizer.
    Every load is recorded in `record_dir`, one file per process."""

    def __init__(self, record_dir: Path):
        super().__init__(batch_size=2, eval_batch_size=2, num_workers=0, alphabet=None, unknown_chars="fail",
                         normalizer=None, on_bad_sample="fail", seed=0)
        self.preprocessor = ImagePreprocessor(height=1)
        self.record_dir = record_dir

    def read_splits(self) -> dict[str, list]:
        return {"val": B24_UTTERANCES}

    def prepare_samples(self, split: str, samples: list) -> list:
        return [Utterance(*sample) for sample in samples]

    def choose_alphabet(self, train_samples: list):
        from recog.alphabet import Alphabet
        return Alphabet(B24_SYMBOLS)

    def sample_lengths(self, samples: list) -> list[int]:
        return [len(sample.hypothesis) for sample in samples]

    def input_loader(self, split: str):
        return self.encode_hypothesis

    def encode_hypothesis(self, sample, draw: str) -> torch.Tensor:
        with open(self.record_dir / f"{os.getpid()}.txt", "a") as record:
            record.write(sample.id + "\n")
        return torch.tensor(self.alphabet.encode(sample.hypothesis), dtype=torch.float32).view(1, 1, -1)


class Utterance:
    def __init__(self, id: str, text: str, hypothesis: str):
        self.id, self.text, self.hypothesis = id, text, hypothesis


def validate(devices: int, record_dir: Path) -> tuple[dict, list[list[str]]]:
    """Validation metrics, and the ids each process loaded."""
    record_dir.mkdir()
    datamodule = OracleDataModule(record_dir)
    datamodule.setup("validate")
    module = CTCRecognitionModule(model={"_target_": "tests.test_distributed.OracleRecognizer"},
                                  alphabet=B24_SYMBOLS, preprocessing=datamodule.preprocessor.to_dict())
    trainer = pl.Trainer(accelerator="cpu", devices=devices, strategy="ddp_spawn" if devices > 1 else "auto",
                         use_distributed_sampler=False, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=False)
    (results,) = trainer.validate(module, datamodule=datamodule, verbose=False)
    return results, [path.read_text().split() for path in sorted(record_dir.iterdir())]


def test_b24_two_processes_score_every_utterance_once(tmp_path):
    single, _ = validate(1, tmp_path / "single")
    distributed, loaded = validate(2, tmp_path / "distributed")
    assert len(loaded) == 2 and sorted(len(ids) for ids in loaded) == [2, 3]
    assert sorted(loaded[0] + loaded[1]) == ["u1", "u2", "u3", "u4", "u5"]
    assert single["val/wer"] == pytest.approx(1 / 14, rel=1e-6)
    assert distributed["val/wer"] == pytest.approx(1 / 14, rel=1e-6)
    assert distributed["val/cer"] == pytest.approx(single["val/cer"], rel=1e-6) == pytest.approx(1 / 23, rel=1e-6)


def test_ddp_spawn_training_writes_one_run_folder_and_scores_like_one_process(tmp_path):
    """recog-train trainer=ddp_spawn (2 processes): one run folder with a truthful summary; its last
    validation CER equals a single-process recog-eval of the final weights on the same split."""
    cache, run_dir = tmp_path / "cache", tmp_path / "run"
    run(["recog-train", "trainer=ddp_spawn", *synthetic_data(cache), *TINY_MODEL, "trainer.max_epochs=1",
         f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "run"]  # nothing else, no second run folder
    assert sorted(p.name for p in run_dir.glob("*.log")) == ["train.log"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    train_lines = 10 * len(next(cache.glob("*/splits/train.lst")).read_text().split())  # 10 lines a form
    batches_per_process = math.ceil(math.ceil(train_lines / 8) / 2)  # batches of 8, dealt out to 2 processes
    assert metrics["epochs"] == 1 and metrics["steps"] == last["global_step"] == batches_per_process
    eval_dir = tmp_path / "eval"
    run(["recog-eval", f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}", *synthetic_data(cache), "split=val",
         f"hydra.run.dir={eval_dir}"])
    evaluation = json.loads((eval_dir / "metrics.json").read_text())
    assert metrics["val/cer"] == pytest.approx(evaluation["cer"], rel=1e-6)
    assert metrics["val/wer"] == pytest.approx(evaluation["wer"], rel=1e-6)

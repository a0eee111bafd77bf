"""Shared fixtures: where the real-world cases and data sets are (../shared beside the repository)."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RECOG_SHARED", REPO_ROOT.parent / "shared"))
TINY_MODEL = ["model.hidden_size=16", "model.num_layers=1", "model.channels=[4,8,8,8]"]  # recog-train overrides


def shared_path(*parts: str) -> Path:
    """A path under ../shared; the test is skipped with the reason if it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not present (the shared cases and data live in ../shared beside the repository)")
    return path


@pytest.fixture
def cases_dir() -> Path:
    return shared_path("cases")


def save_checkpoint(module: pl.LightningModule, path: Path) -> Path:
    """Save a module as recog-train saves one (hyperparameters + weights), without training it."""
    torch.save({"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
                "pytorch-lightning_version": pl.__version__}, path)
    return path


def run(command: list[str], cwd: Path = REPO_ROOT, check: bool = True) -> subprocess.CompletedProcess:
    """Run a console script; with check, a failure shows the ends of its output."""
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{command} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


def synthetic_data(cache: Path) -> list[str]:
    """recog-train/recog-eval overrides for 40 built-in lines (32 train, 4 val, 4 test) generated into `cache`."""
    return [f"data.cache_dir={cache}", "data.num_lines=40", "data.num_workers=0", "data.batch_size=8"]

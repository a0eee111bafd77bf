"""Shared fixtures: where the real-world cases and data sets are (../shared beside the repository)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RECOG_SHARED", REPO_ROOT.parent / "shared"))


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

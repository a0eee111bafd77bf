"""Every config of conf/ composes as the entry points compose it, and the recipes say what they promise."""
from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from recog.config import CONFIG_DIR


def options(group: str) -> list[str]:
    return sorted(path.stem for path in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def composed(config: str, overrides: list[str]):
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        return compose(config, overrides=overrides)


@pytest.mark.parametrize("experiment", options("experiment"))
def test_every_experiment_composes_for_training(experiment):
    cfg = composed("train", [f"experiment={experiment}"])
    assert cfg.data._target_.startswith("datamodules.") and cfg.model._target_ == "recog.model.CTCRecognizer"


@pytest.mark.parametrize("data", options("data"))
def test_every_data_option_composes_for_evaluation(data):
    cfg = composed("eval", [f"data={data}", "ckpt_path=model.ckpt"])
    assert cfg.data._target_.startswith("datamodules.")


def test_the_speech_demo_is_evaluated_on_the_data_it_was_trained_with():
    """recog-eval data=demo_speech must read the very data set (same voices) that experiment=demo_speech made."""
    trained = OmegaConf.to_container(composed("train", ["experiment=demo_speech"]).data, resolve=True)
    evaluated = OmegaConf.to_container(composed("eval", ["data=demo_speech", "ckpt_path=x"]).data, resolve=True)
    trained.pop("seed"), evaluated.pop("seed")
    assert trained == evaluated
    assert trained["speakers"] == {"train": 140, "dev": 8, "test": 8}
    assert trained["num_workers"] == 0 and trained["feature_cache_mb"] > 0


def test_the_lm_trainer_config_composes():
    cfg = composed("train_lm", ["data.train=corpus.txt"])
    assert cfg.data._target_ == "datamodules.text_lines.TextLinesDataModule" and cfg.callbacks.checkpoint.monitor == "val/loss"

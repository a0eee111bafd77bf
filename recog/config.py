"""Where the Hydra configuration lives, and conversions of Hydra config nodes to plain Python."""
from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


def to_plain(node: DictConfig | dict | None) -> dict | None:
    """A resolved plain dict (checkpoint hyperparameters must not depend on Hydra or OmegaConf)."""
    if node is None or isinstance(node, dict):
        return node
    return OmegaConf.to_container(node, resolve=True)

"""recog-train-lm: train a character-level LSTM language model on a text file, for decoder=beam_char_lstm.

    recog-train-lm data.train=corpus.txt data.alphabet=outputs/<date>/<time>/alphabet.txt
    recog-eval ... decoder=beam_char_lstm decoder.language_model.path=outputs/lm/<date>/<time>/checkpoints/best.ckpt

The run folder (outputs/lm/<date>/<time>/) receives the resolved config, CSV logs, checkpoints (best by
validation loss, and last) and metrics.json (validation loss in nats per character, bits per character,
perplexity).
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import hydra
import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig

from recog.char_lm import CharLMModule
from recog.config import CONFIG_DIR, to_plain
from recog.errors import ConfigError, exit_on_user_error

log = logging.getLogger("recog.train_lm")


def absolute_paths(data: DictConfig) -> dict:
    """The data settings with its file paths resolved against the launch directory (Hydra may change into the
    run folder)."""
    settings = to_plain(data)
    for key in ("train", "val", "alphabet"):
        if settings.get(key):
            settings[key] = to_absolute_path(settings[key])
    return settings


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train_lm")
@exit_on_user_error
def main(cfg: DictConfig) -> float:
    started = time.time()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    pl.seed_everything(cfg.seed, workers=True)
    datamodule = instantiate(absolute_paths(cfg.data), _convert_="all")
    datamodule.setup("fit")
    module = CharLMModule(alphabet=datamodule.alphabet.symbols, model=to_plain(cfg.model),
                          optimizer=to_plain(cfg.optimizer), scheduler=to_plain(cfg.scheduler),
                          normalizer=datamodule.normalizer.to_dict())
    trainer = instantiate(cfg.trainer, callbacks=[instantiate(c) for c in cfg.callbacks.values() if c is not None],
                          logger=[instantiate(c) for c in cfg.logger.values() if c is not None])
    ckpt_path = to_absolute_path(cfg.ckpt_path) if cfg.ckpt_path else None
    if ckpt_path and not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={cfg.ckpt_path}: no such checkpoint to resume from")
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    best = trainer.checkpoint_callback
    summary = {"best_checkpoint": best.best_model_path, "best_val_loss": float(best.best_model_score),
               "epochs": trainer.current_epoch, "steps": trainer.global_step,
               "minutes": round((time.time() - started) / 60, 2), "run_dir": str(run_dir)}
    summary.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")})
    (run_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("done in %.1f min: best validation loss %.4f nats per character, checkpoint %s", summary["minutes"],
             summary["best_val_loss"], summary["best_checkpoint"])
    return summary["best_val_loss"]


if __name__ == "__main__":
    main()

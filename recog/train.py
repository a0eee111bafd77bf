"""recog-train: Hydra-configured training. `recog-train` alone trains the built-in handwriting default.

    recog-train                                   # built-in synthetic lines, CPU
    recog-train experiment=iam data.root=/data/IAM
    recog-train -m model.cell=lstm,gru            # a multirun sweep

The run folder (outputs/<date>/<time>/) receives the resolved config, logs (CSV and TensorBoard),
checkpoints (best by validation CER, and last), the alphabet, a list of infeasible lines, a plot of the
training curves and metrics.json.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig
from pytorch_lightning.strategies.launchers.multiprocessing import _MultiProcessingLauncher
from pytorch_lightning.utilities import rank_zero_only

from recog.config import CONFIG_DIR, to_plain
from recog.errors import ConfigError, exit_on_user_error
from recog.lightning_module import CTCRecognitionModule
from recog.plots import plot_training_curves
from recog.recognizer import load_module

log = logging.getLogger("recog.train")
# Faults training went past, into metrics.json: unreadable samples of the last epoch, non-finite steps skipped.
FAULT_COUNTS = ("train/skipped", "train/nonfinite_skipped")


def build_module(cfg: DictConfig, datamodule, pretrained: CTCRecognitionModule | None) -> CTCRecognitionModule:
    module = CTCRecognitionModule(
        model=pretrained.hparams.model if pretrained else to_plain(cfg.model),
        alphabet=datamodule.alphabet.symbols,
        preprocessing=datamodule.preprocessor.to_dict(),
        normalizer=datamodule.normalizer.to_dict(),
        optimizer=to_plain(cfg.optimizer),
        scheduler=to_plain(cfg.scheduler),
        metric_normalizer=to_plain(cfg.metric_normalizer),
    )
    if pretrained is not None:
        module.initialise_from(pretrained)
    return module


def prepare_data(cfg: DictConfig, pretrained: CTCRecognitionModule | None, stage: str | None = "fit",
                 **data_overrides):
    """The configured data module, generated or downloaded if need be, with its splits and alphabet set up.

    data_overrides replace settings of cfg.data (recog-check relaxes the bad-sample policies with them).
    """
    datamodule = instantiate(cfg.data, _convert_="all", **data_overrides)
    if pretrained is not None:
        check_same_input_format(datamodule.preprocessor, pretrained.preprocessor)
        datamodule.base_alphabet = pretrained.alphabet
    datamodule.prepare_data()
    datamodule.setup(stage)
    return datamodule


def check_same_input_format(data_preprocessor, model_preprocessor) -> None:
    """Fine-tuning keeps the inputs the pretrained model was trained on (modality, height or features)."""
    data_format, model_format = data_preprocessor.input_format(), model_preprocessor.input_format()
    if data_format != model_format:
        differences = ", ".join(f"data.{key}={data_format.get(key)} (the model: {model_format.get(key)})"
                                for key in sorted(set(data_format) | set(model_format))
                                if data_format.get(key) != model_format.get(key))
        raise ConfigError(f"the data do not match the pretrained model's inputs: {differences}; set them to the "
                          "model's values")


def check_min_length(preprocessor, model) -> None:
    if preprocessor.min_length < model.min_input_length:
        raise ConfigError(f"{preprocessor.min_length_setting}={preprocessor.min_length} is below the model's "
                          f"minimum input length {model.min_input_length}: raise {preprocessor.min_length_setting}")


def report_infeasible(datamodule, module: CTCRecognitionModule, run_dir: Path) -> None:
    """List samples too short for their transcript before training (case B01); CTC skips them."""
    lines = []
    for split in ("train", "val"):
        for sample in datamodule.infeasible_samples(split, module.model.output_lengths):
            lines.append(f"{split}\t{sample.id}")
    if lines:
        (run_dir / "infeasible.tsv").write_text("\n".join(lines) + "\n")
        log.warning("%d %s are too short for CTC to emit their transcript; they are excluded from the loss "
                    "and listed in %s (first: %s)", len(lines), datamodule.items, run_dir / "infeasible.tsv",
                    lines[:5])


def fit_progress(trainer: pl.Trainer) -> tuple[int, int, torch.Tensor | None]:
    """(epochs, steps, best validation CER) of the fit. Under ddp_spawn the fit ran in worker processes that
    send back only the best checkpoint's path and the metrics, so these are read from the last checkpoint."""
    best = trainer.checkpoint_callback
    if not isinstance(trainer.strategy.launcher, _MultiProcessingLauncher):
        return trainer.current_epoch, trainer.global_step, best.best_model_score
    last = torch.load(Path(best.dirpath) / "last.ckpt", map_location="cpu", weights_only=False)
    epochs = last["loops"]["fit_loop"]["epoch_progress"]["current"]["processed"]
    return epochs, last["global_step"], last["callbacks"][best.state_key]["best_model_score"]


def summarise(trainer: pl.Trainer, run_dir: Path, started: float) -> dict:
    epochs, steps, best_score = fit_progress(trainer)
    summary = {
        "best_checkpoint": trainer.checkpoint_callback.best_model_path,
        "best_val_cer": float(best_score) if best_score is not None else None,
        "epochs": epochs,
        "steps": steps,
        "minutes": round((time.time() - started) / 60, 2),
        "run_dir": str(run_dir),
    }
    summary.update({k: float(v) for k, v in trainer.callback_metrics.items()
                    if k.startswith("val/") or k in FAULT_COUNTS})
    (run_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    metrics_csv = next(run_dir.glob("csv/**/metrics.csv"), None)
    if metrics_csv is not None:
        plot_training_curves(metrics_csv, run_dir / "training_curves.png")
    return summary


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="train")
@exit_on_user_error
def main(cfg: DictConfig) -> float | None:
    started = time.time()
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    pl.seed_everything(cfg.seed, workers=True)
    pretrained = load_module(to_absolute_path(cfg.init_from), device="cpu") if cfg.init_from else None
    datamodule = prepare_data(cfg, pretrained)
    module = build_module(cfg, datamodule, pretrained)
    check_min_length(datamodule.preprocessor, module.model)
    first_process = rank_zero_only.rank == 0  # DDP relaunches this script once per extra device
    if first_process:
        datamodule.alphabet.to_file(run_dir / "alphabet.txt")
        report_infeasible(datamodule, module, run_dir)
    callbacks = [instantiate(c) for c in cfg.callbacks.values() if c is not None]
    loggers = [instantiate(c) for c in cfg.logger.values() if c is not None]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers)
    ckpt_path = to_absolute_path(cfg.ckpt_path) if cfg.ckpt_path else None
    if ckpt_path and not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={cfg.ckpt_path}: no such checkpoint to resume from")
    trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
    if not trainer.is_global_zero:
        return None
    summary = summarise(trainer, run_dir, started)
    log.info("done in %.1f min: best val CER %s, checkpoint %s; unreadable samples skipped in the last epoch: "
             "%s train, %s val; non-finite steps skipped: %s", summary["minutes"], summary["best_val_cer"],
             summary["best_checkpoint"], *(fault_count(summary, key)
                                           for key in ("train/skipped", "val/skipped", "train/nonfinite_skipped")))
    return summary["best_val_cer"]  # the value a Hydra sweeper optimises


def fault_count(summary: dict, key: str) -> str:
    return str(int(summary[key])) if key in summary else "n/a"


if __name__ == "__main__":
    main()

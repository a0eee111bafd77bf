"""Training throughput of the full speech pipeline against the raw model, side by side in one run.

    python benchmarks/speech_throughput.py                       # experiment=demo_speech
    python benchmarks/speech_throughput.py --steps 40 experiment=digits data.num_workers=2

The same config (any recog-train overrides after the options) is measured twice:
- pipeline: Lightning's `Trainer.fit` on the data module's training loader, as `recog-train` runs it (audio
  decoding, log-mel features, SpecAugment and speed perturbation when configured, length-bucketed batches,
  collation, CTC loss, gradient clipping, AdamW, the one-cycle schedule), validation off;
- raw: the same model's forward + CTC + backward + clipping + AdamW step on the same batches, pre-built as
  tensors in memory before the clock starts.
Both count audio seconds (feature frames x hop) and utterances per second of wall time, after `--warmup`
steps. The pipeline should reach at least 90 % of the raw figure: the data loader must not be the bottleneck.
"""
from __future__ import annotations

import argparse
import itertools
import time

import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir

from recog.config import CONFIG_DIR
from recog.ctc.loss import ctc_loss
from recog.train import build_module, prepare_data


class StepClock(pl.Callback):
    """Wall time and audio of the training steps after the first `warmup`."""

    def __init__(self, warmup: int, seconds_per_frame: float):
        self.warmup, self.seconds_per_frame = warmup, seconds_per_frame
        self.started = None
        self.audio_seconds = self.utterances = 0.0

    def on_train_batch_start(self, trainer, module, batch, batch_index):
        if batch_index == self.warmup:
            self.started = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index):
        if batch_index >= self.warmup:
            self.audio_seconds += float(batch["widths"].sum()) * self.seconds_per_frame
            self.utterances += len(batch["ids"])

    def rates(self) -> tuple[float, float]:
        elapsed = time.perf_counter() - self.started
        return self.audio_seconds / elapsed, self.utterances / elapsed


def measure_pipeline(cfg, steps: int, warmup: int) -> tuple[float, float]:
    datamodule = prepare_data(cfg, None)
    module = build_module(cfg, datamodule, None)
    clock = StepClock(warmup, datamodule.preprocessor.seconds_per_frame)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=warmup + steps, limit_val_batches=0,
                         num_sanity_val_steps=0, logger=False, enable_checkpointing=False, callbacks=[clock],
                         gradient_clip_val=cfg.trainer.get("gradient_clip_val"), enable_progress_bar=False,
                         enable_model_summary=False)
    trainer.fit(module, datamodule=datamodule)
    return clock.rates()


def measure_raw(cfg, steps: int, warmup: int) -> tuple[float, float]:
    datamodule = prepare_data(cfg, None)
    module = build_module(cfg, datamodule, None).train()
    batches = list(itertools.islice(datamodule.train_dataloader(), warmup + steps))  # built before the clock
    optimizer = torch.optim.AdamW(module.parameters(), **cfg.optimizer)
    clip = cfg.trainer.get("gradient_clip_val")
    audio_seconds = utterances = 0.0
    for index, batch in enumerate(batches):
        if index == warmup:
            started = time.perf_counter()
        log_probs, output_lengths = module(batch["images"], batch["widths"])  # (T, N, C)
        loss = ctc_loss(log_probs, batch["targets"], output_lengths, batch["target_lengths"]).loss
        optimizer.zero_grad()
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
        optimizer.step()
        if index >= warmup:
            audio_seconds += float(batch["widths"].sum()) * datamodule.preprocessor.seconds_per_frame
            utterances += len(batch["ids"])
    elapsed = time.perf_counter() - started
    return audio_seconds / elapsed, utterances / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("overrides", nargs="*", default=[], help="recog-train overrides (default experiment=demo_speech)")
    args = parser.parse_args()
    overrides = args.overrides or ["experiment=demo_speech"]
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3", job_name="speech_throughput"):
        cfg = compose(config_name="train", overrides=overrides)
    pl.seed_everything(cfg.seed)
    raw = measure_raw(cfg, args.steps, args.warmup)
    pl.seed_everything(cfg.seed)
    pipeline = measure_pipeline(cfg, args.steps, args.warmup)
    print(f"\nconfig: {' '.join(overrides)}; {args.steps} timed steps after {args.warmup}; "
          f"{torch.get_num_threads()} threads, data.num_workers={cfg.data.num_workers}")
    print(f"{'measurement':<40}{'audio s / s':>12}{'utt / s':>10}")
    print(f"{'raw forward+backward (tensors in memory)':<40}{raw[0]:12.1f}{raw[1]:10.2f}")
    print(f"{'full pipeline (Lightning, data loader)':<40}{pipeline[0]:12.1f}{pipeline[1]:10.2f}")
    print(f"{'pipeline / raw':<40}{pipeline[0] / raw[0]:12.1%}{pipeline[1] / raw[1]:10.1%}")


if __name__ == "__main__":
    main()

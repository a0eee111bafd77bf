"""Training throughput of the full speech pipeline against the raw model, side by side in one run.

    python benchmarks/speech_throughput.py                       # experiment=demo_speech
    python benchmarks/speech_throughput.py --steps 40 experiment=digits data.num_workers=2

The same config (any recog-train overrides after the options) is measured side by side:
- pipeline: Lightning's `Trainer.fit` on the data module's training loader, as `recog-train` runs it (audio
  decoding, log-mel features, SpecAugment and speed perturbation when configured, length-bucketed batches,
  collation, CTC loss, gradient clipping, AdamW, the one-cycle schedule), validation off; timed in its first
  epoch and in its second, which differ when data.feature_cache_mb keeps the features of the first;
- raw: the same model's forward + CTC + backward + clipping + AdamW step on the same batches (those the
  pipeline times in each epoch), pre-built as tensors in memory before the clock starts.
Both count audio seconds (feature frames x hop) and utterances per second of wall time, over `--steps` steps
after `--warmup` steps of each timed epoch. The pipeline should reach at least 90 % of the raw figure: the data
loader must not be the bottleneck.
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
    """Wall time and audio of steps [warmup, warmup + steps) of every epoch."""

    def __init__(self, warmup: int, steps: int, seconds_per_frame: float):
        self.warmup, self.steps, self.seconds_per_frame = warmup, steps, seconds_per_frame
        self.started: dict[int, float] = {}
        self.elapsed: dict[int, float] = {}
        self.audio_seconds: dict[int, float] = {}
        self.utterances: dict[int, int] = {}

    def on_train_batch_start(self, trainer, module, batch, batch_index):
        if batch_index == self.warmup:
            self.started[trainer.current_epoch] = time.perf_counter()

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_index):
        epoch = trainer.current_epoch
        if self.warmup <= batch_index < self.warmup + self.steps:
            self.audio_seconds[epoch] = self.audio_seconds.get(epoch, 0.0) + \
                float(batch["widths"].sum()) * self.seconds_per_frame
            self.utterances[epoch] = self.utterances.get(epoch, 0) + len(batch["ids"])
        if batch_index == self.warmup + self.steps - 1:
            self.elapsed[epoch] = time.perf_counter() - self.started[epoch]

    def rates(self, epoch: int) -> tuple[float, float]:
        return self.audio_seconds[epoch] / self.elapsed[epoch], self.utterances[epoch] / self.elapsed[epoch]


def measure_pipeline(cfg, steps: int, warmup: int) -> list[tuple[float, float]]:
    """(audio s/s, utterances/s) in epochs 0 and 1."""
    datamodule = prepare_data(cfg, None)
    module = build_module(cfg, datamodule, None)
    clock = StepClock(warmup, steps, datamodule.preprocessor.seconds_per_frame)
    steps_per_epoch = len(datamodule.train_dataloader())
    if steps_per_epoch < warmup + steps:
        raise SystemExit(f"an epoch has {steps_per_epoch} steps: lower --steps or --warmup")
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_steps=steps_per_epoch + warmup + steps,
                         limit_val_batches=0, num_sanity_val_steps=0, logger=False, enable_checkpointing=False,
                         callbacks=[clock], gradient_clip_val=cfg.trainer.get("gradient_clip_val"),
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, datamodule=datamodule)
    return [clock.rates(0), clock.rates(1)]


def measure_raw(cfg, steps: int, warmup: int, epoch: int) -> tuple[float, float]:
    """(audio s/s, utterances/s) on the batches the pipeline times in `epoch`."""
    datamodule = prepare_data(cfg, None)
    module = build_module(cfg, datamodule, None).train()
    loader = datamodule.train_dataloader()
    loader.batch_sampler.set_epoch(epoch)
    batches = list(itertools.islice(loader, warmup + steps))  # built before the clock
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
    raw = []
    for epoch in (0, 1):
        pl.seed_everything(cfg.seed)
        raw.append(measure_raw(cfg, args.steps, args.warmup, epoch))
    pl.seed_everything(cfg.seed)
    pipeline = measure_pipeline(cfg, args.steps, args.warmup)
    print(f"\nconfig: {' '.join(overrides)}; {args.steps} timed steps after {args.warmup}; "
          f"{torch.get_num_threads()} threads, data.num_workers={cfg.data.num_workers}, "
          f"data.feature_cache_mb={cfg.data.get('feature_cache_mb', 0)}")
    print(f"{'measurement (same batches per epoch)':<44}{'audio s / s':>12}{'utt / s':>10}{'/ raw':>8}")
    for epoch, name in enumerate(("first", "second")):
        for what, (audio, utterances) in (("raw forward+backward", raw[epoch]), ("full pipeline", pipeline[epoch])):
            print(f"{f'{name} epoch: {what}':<44}{audio:12.1f}{utterances:10.2f}{audio / raw[epoch][0]:8.1%}")


if __name__ == "__main__":
    main()

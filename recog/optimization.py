"""The optimizer and learning-rate schedule every recog model trains with (recognizers and language models).

AdamW, and by default a one-cycle schedule stepped per batch: a warm-up to the peak rate over the first
`warmup_fraction` of the steps, then a cosine decay; `name: constant` keeps the rate fixed.
"""
from __future__ import annotations

from typing import Iterable

import torch


def adamw_with_schedule(parameters: Iterable[torch.nn.Parameter], optimizer: dict | None, scheduler: dict | None,
                        total_steps: int):
    """What a LightningModule's configure_optimizers returns for the `optimizer` and `scheduler` config sections."""
    settings = {"lr": 3e-3, "weight_decay": 0.01, **(optimizer or {})}
    adamw = torch.optim.AdamW(parameters, **settings)
    schedule = dict(scheduler or {"name": "onecycle"})
    if schedule.pop("name") == "constant":
        return adamw
    one_cycle = torch.optim.lr_scheduler.OneCycleLR(
        adamw, max_lr=settings["lr"], total_steps=total_steps, pct_start=schedule.get("warmup_fraction", 0.1),
        anneal_strategy="cos", div_factor=schedule.get("div_factor", 10.0),
        final_div_factor=schedule.get("final_div_factor", 100.0),
    )
    return {"optimizer": adamw, "lr_scheduler": {"scheduler": one_cycle, "interval": "step"}}

"""Pictures that say more than logs: training curves from Lightning's CSV log."""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_metric_series(metrics_csv: Path) -> dict[str, tuple[list[int], list[float]]]:
    """Per metric, the (steps, values) at which it was logged."""
    series: dict[str, tuple[list[int], list[float]]] = {}
    with open(metrics_csv, newline="") as handle:
        for row in csv.DictReader(handle):
            for name, value in row.items():
                if name in ("step", "epoch") or value in ("", None):
                    continue
                steps, values = series.setdefault(name, ([], []))
                steps.append(int(row["step"]))
                values.append(float(value))
    return series


def plot_training_curves(metrics_csv: Path, output_png: Path) -> None:
    """Loss (train and validation) and validation CER/WER against the training step."""
    series = read_metric_series(metrics_csv)
    figure, (loss_axes, rate_axes) = plt.subplots(1, 2, figsize=(11, 4))
    for name in ("train/loss", "val/loss"):
        if name in series:
            loss_axes.plot(*series[name], label=name, marker="." if name.startswith("val") else None)
    loss_axes.set(xlabel="step", ylabel="CTC loss per character", yscale="log", title="loss")
    for name in ("val/cer", "val/wer"):
        if name in series:
            rate_axes.plot(*series[name], label=name, marker=".")
    rate_axes.set(xlabel="step", ylabel="error rate", title="validation error rates")
    for axes in (loss_axes, rate_axes):
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend()
    figure.tight_layout()
    figure.savefig(output_png, dpi=100)
    plt.close(figure)

"""Pictures that say more than logs: training curves from Lightning's CSV log, and line alignments."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import matplotlib
import numpy as np

from recog.alignment import FrameGeometry, LineAlignment

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

CHARACTER_COLOR, WORD_COLOR = "tab:orange", "tab:blue"


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


def plot_alignment(picture: np.ndarray, cmap: str, alignment: LineAlignment, geometry: FrameGeometry,
                   posteriors: np.ndarray, symbols: Sequence[str], output_png: Path) -> None:
    """The input (a line image, or a spectrogram: picture (rows, columns), spanning geometry.extent units) with
    word boxes (blue, labelled above with their confidence) and character boxes (orange, labelled below),
    over the per-frame class posteriors (T, C) on the same x axis.

    symbols are the alphabet's (class k is symbols[k - 1], class 0 the blank); a space is shown as "␣".
    """
    rows, columns = picture.shape
    figure_width = min(30.0, max(6.0, columns / 100 + 1))  # about one column per PNG pixel at dpi 100
    picture_inches = min(4.0, max(0.6, (figure_width - 1) * rows / columns))
    figure, (picture_axes, posterior_axes) = plt.subplots(
        2, 1, sharex=True, figsize=(figure_width, picture_inches + 3.0),
        gridspec_kw={"height_ratios": [picture_inches, 2.0], "hspace": 0.4})
    draw_aligned_picture(picture_axes, picture, cmap, geometry.extent, alignment)
    class_names = ["blank", *("\u2423" if symbol == " " else symbol for symbol in symbols)]
    draw_posteriors(posterior_axes, posteriors, geometry, class_names)
    posterior_axes.set_xlim(0, geometry.extent)
    figure.savefig(output_png, dpi=100, bbox_inches="tight")
    plt.close(figure)


def draw_aligned_picture(axes, picture: np.ndarray, cmap: str, extent: float, alignment: LineAlignment) -> None:
    """The picture stretched over [0, extent] on x and [0, 1] on y (top = 0); spaces get no box."""
    axes.imshow(picture, cmap=cmap, extent=(0, extent, 1, 0), aspect="auto")
    label = {"ha": "center", "fontsize": 9, "clip_on": False, "parse_math": False}
    for character in alignment.characters:
        if character.text.isspace():
            continue
        axes.add_patch(Rectangle((character.start, 0.1), character.end - character.start, 0.8,
                                 fill=False, edgecolor=CHARACTER_COLOR, linewidth=1))
        axes.text((character.start + character.end) / 2, 1, character.text, va="top",
                  color=CHARACTER_COLOR, **label)
    for word in alignment.words:
        axes.add_patch(Rectangle((word.start, 0), word.end - word.start, 1, fill=False,
                                 edgecolor=WORD_COLOR, linewidth=2))
        axes.text((word.start + word.end) / 2, 0, f"{word.text} {word.confidence:.2f}", va="bottom",
                  color=WORD_COLOR, **label)
    axes.set_title(f"{alignment.text}    (line confidence {alignment.confidence:.3f})", pad=18,
                   parse_math=False)
    axes.set_yticks([])
    axes.tick_params(axis="x", bottom=False)


def draw_posteriors(axes, posteriors: np.ndarray, geometry: FrameGeometry, class_names: Sequence[str],
                    min_peak: float = 0.1) -> None:
    """Blank (class 0) filled gray; every class reaching min_peak as a line, named where it wins a frame."""
    num_frames = posteriors.shape[0]
    edges = np.arange(num_frames + 1) * geometry.frame_size
    centres = edges[:-1] + geometry.frame_size / 2
    axes.stairs(posteriors[:, 0], edges, fill=True, color="0.85", label="blank")
    winners = posteriors.argmax(axis=1)  # (T,)
    run_starts = np.flatnonzero(np.diff(winners, prepend=-1) != 0)  # first frame of each run of one winner
    shown = [k for k in range(1, posteriors.shape[1]) if posteriors[:, k].max() >= min_peak]
    colors = plt.get_cmap("tab20")
    for order, k in enumerate(shown):
        color = colors(order % 20)
        axes.stairs(posteriors[:, k], edges, color=color, linewidth=1.2)
        for frame in run_starts[winners[run_starts] == k]:
            axes.text(centres[frame], posteriors[frame, k] + 0.02, class_names[k], color=color, ha="center",
                      va="bottom", fontsize=8, parse_math=False)
    axes.set(ylim=(0, 1.15), ylabel="P(class | frame)",
             xlabel=f"position in the input ({geometry.unit}); one frame = {geometry.frame_size:g} {geometry.unit}")
    axes.legend(loc="upper right", fontsize=8)

"""A table of CER/WER per setting of a `recog-eval -m` sweep (e.g. decoder.alpha=0.3,0.6 decoder.beta=0,1,2).

Runs by itself at the end of every recog-eval multirun (a Hydra callback, conf/eval.yaml), and on a finished
sweep folder: `python -m recog.sweep_summary outputs/multirun/eval/<date>/<time>`. Reads each job's
metrics.json and .hydra/overrides.yaml; the columns are the overrides that differ between jobs. The table is
printed and written to sweep_summary.tsv in the sweep folder.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig


def job_results(sweep_dir: Path) -> list[tuple[dict[str, str], dict[str, tuple[float, float]]]]:
    """Per job (in job order): its overrides {key: value}, and (CER, WER) per scored subset (or the split)."""
    jobs = []
    for job_dir in sorted((d for d in sweep_dir.iterdir() if d.name.isdigit()), key=lambda d: int(d.name)):
        metrics_path = job_dir / "metrics.json"
        if not metrics_path.is_file():
            continue  # a job that failed before scoring
        overrides = yaml.safe_load((job_dir / ".hydra" / "overrides.yaml").read_text()) or []
        metrics = json.loads(metrics_path.read_text())
        groups = metrics.get("subsets", {metrics.get("split", "split"): metrics})
        jobs.append((dict(o.split("=", 1) for o in overrides),
                     {name: (group["cer"], group["wer"]) for name, group in groups.items()}))
    return jobs


def format_table(jobs: list) -> list[list[str]]:
    keys = sorted({key for overrides, _ in jobs for key in overrides})
    varying = [k for k in keys if len({overrides.get(k) for overrides, _ in jobs}) > 1] or keys
    groups = list(jobs[0][1]) if jobs else []
    header = varying + [f"{unit} {group}" for group in groups for unit in ("CER", "WER")]
    rows = [[overrides.get(k, "") for k in varying] +
            [f"{rate:.2%}" for group in groups for rate in results.get(group, (float("nan"),) * 2)]
            for overrides, results in jobs]
    return [header] + rows


def summarise(sweep_dir: str | Path) -> str:
    sweep_dir = Path(sweep_dir)
    table = format_table(job_results(sweep_dir))
    if len(table) == 1:
        return f"{sweep_dir}: no job wrote metrics.json"
    (sweep_dir / "sweep_summary.tsv").write_text("\n".join("\t".join(row) for row in table) + "\n")
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.rjust(width) for cell, width in zip(row, widths)) for row in table]
    return "\n".join([f"sweep {sweep_dir} ({len(table) - 1} settings):", *lines])


class SweepSummary(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        print(summarise(config.hydra.sweep.dir))


if __name__ == "__main__":
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        print("usage: python -m recog.sweep_summary SWEEP_FOLDER (outputs/multirun/eval/<date>/<time>)",
              file=sys.stderr)
        sys.exit(2)
    print(summarise(sys.argv[1]))

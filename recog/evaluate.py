"""recog-eval: score a checkpoint on one split of a data set: corpus CER and WER with their breakdown.

    recog-eval ckpt_path=outputs/2026-12-03/18-00-00/checkpoints/best.ckpt            # built-in test split
    recog-eval ckpt_path=... data=iam data.root=/data/IAM data.splits.test=te.lst split=test

    recog-eval ckpt_path=... data=librispeech data.root=/data/LibriSpeech data.splits.test=[test-clean,test-other]

Writes per_line.tsv (id, reference, hypothesis, error counts) and metrics.json into the run folder and
prints a summary table. References are only normalised (metric_normalizer, applied to both sides). A split
made of several corpus parts (LibriSpeech's test-clean and test-other) is scored per part, never merged:
one table and one metrics.json entry per subset, and a subset column in per_line.tsv.
"""
from __future__ import annotations

import csv
import json
import logging
import sys
from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate, to_absolute_path
from omegaconf import DictConfig
from tqdm import tqdm

from recog.config import CONFIG_DIR, to_plain
from recog.errors import DataError, exit_on_user_error
from recog.metrics import corpus_error_counts, error_breakdown, line_error_counts
from recog.recognizer import Recognizer
from recog.text import TextNormalizer

log = logging.getLogger("recog.eval")


def transcribe_split(recognizer: Recognizer, loader) -> tuple[list[tuple[str, str, str]], int]:
    """(id, reference, hypothesis) for every readable line, and the number of unreadable lines."""
    rows, skipped = [], 0
    for batch in tqdm(loader, desc="transcribing", unit="batch"):
        skipped += batch["num_skipped"]
        if batch["ids"]:
            recognition = recognizer.run(batch["images"], batch["widths"])
            for index, error in recognition.errors.items():
                log.warning("line %s: %s; scored as an empty hypothesis", batch["ids"][index], error)
            rows += zip(batch["ids"], batch["texts"], [text or "" for text in recognition.texts])
    return rows, skipped


def write_per_line_tsv(path: Path, rows: list[tuple[str, str, str]], subsets: dict[str, str] | None) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
        subset_column = ["subset"] if subsets else []
        writer.writerow(["id", "reference", "hypothesis", "char_errors", "chars", "word_errors", "words",
                         *subset_column])
        for line_id, reference, hypothesis in rows:
            counts = line_error_counts(reference, hypothesis)
            writer.writerow([line_id, reference, hypothesis, counts.char_errors, counts.chars,
                             counts.word_errors, counts.words, *([subsets[line_id]] if subsets else [])])


def subsets_of(samples: list) -> dict[str, str] | None:
    """Sample id -> the corpus part it came from, when the split is made of more than one; else None."""
    subsets = {sample.id: getattr(sample, "subset", None) for sample in samples}
    return subsets if len(set(subsets.values()) - {None}) > 1 else None


def format_summary(name: str, results: dict) -> str:
    lines = [f"{name}: {results['lines']} lines, normalisation: {results['normalisation']}",
             f"{'':6}{'rate':>9}{'errors':>9}{'ref':>9}{'sub':>8}{'del':>8}{'ins':>8}"]
    for unit, key in (("CER", "chars"), ("WER", "words")):
        b = results["breakdown"][key]
        lines.append(f"{unit:6}{results[unit.lower()]:9.2%}{b['errors']:9d}{results[key]:9d}"
                     f"{b['substitutions']:8d}{b['deletions']:8d}{b['insertions']:8d}")
    return "\n".join(lines)


def score(rows: list[tuple[str, str, str]], normalizer: TextNormalizer) -> tuple[list, dict]:
    normalised = [(line_id, normalizer(ref), normalizer(hyp)) for line_id, ref, hyp in rows]
    references = [ref for _, ref, _ in normalised]
    hypotheses = [hyp for _, _, hyp in normalised]
    counts = corpus_error_counts(references, hypotheses)
    breakdown = error_breakdown(references, hypotheses)
    results = {
        "cer": counts.cer, "wer": counts.wer, "chars": counts.chars, "words": counts.words,
        "lines": counts.lines, "normalisation": normalizer.describe(),
        "breakdown": {unit: {**vars(b), "errors": b.errors} for unit, b in breakdown.items()},
    }
    return normalised, results


def score_groups(rows: list[tuple[str, str, str]], subsets: dict[str, str] | None, split: str,
                 normalizer: TextNormalizer) -> tuple[list, dict]:
    """Normalised rows, and results per subset (or for the whole split), each printed as a table."""
    groups = {split: rows} if subsets is None else group_by_subset(rows, subsets)
    metrics, normalised = {}, []
    for name, group_rows in groups.items():
        group_normalised, metrics[name] = score(group_rows, normalizer)
        normalised += group_normalised
        print(format_summary(f"split {split}" if subsets is None else f"{split} subset {name}", metrics[name]))
    return normalised, metrics


def describe(settings: dict, prefix: str = "") -> str:
    """A decoder config in one line: its class, then key=value (nested keys dotted)."""
    words = [settings["_target_"].rsplit(".", 1)[-1]] if "_target_" in settings and not prefix else []
    for key, value in settings.items():
        if isinstance(value, dict):
            words.append(describe(value, f"{prefix}{key}."))
        elif not key.startswith("_"):
            words.append(f"{prefix}{key}={value}")
    return " ".join(words)


def group_by_subset(rows: list[tuple[str, str, str]], subsets: dict[str, str]) -> dict[str, list]:
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(subsets[row[0]], []).append(row)
    return groups


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="eval")
@exit_on_user_error
def main(cfg: DictConfig) -> float:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    recognizer = Recognizer.from_checkpoint(to_absolute_path(cfg.ckpt_path), cfg.device, decoder=cfg.decoder)
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup_evaluation(recognizer.preprocessor, recognizer.normalizer, cfg.split)
    with torch.inference_mode():
        rows, unreadable = transcribe_split(recognizer, datamodule.dataloader(cfg.split))
    if not rows:
        raise DataError(f"split {cfg.split!r} has no readable lines to score ({unreadable} unreadable)")
    subsets = subsets_of(datamodule.samples(cfg.split))
    normalizer = TextNormalizer.from_dict(to_plain(cfg.metric_normalizer))
    print(f"decoder: {HydraConfig.get().runtime.choices.get('decoder')} ({describe(to_plain(cfg.decoder))})")
    normalised, metrics = score_groups(rows, subsets, cfg.split, normalizer)
    summary = {"split": cfg.split, "checkpoint": str(to_absolute_path(cfg.ckpt_path)), "unreadable": unreadable,
               "decoder": to_plain(cfg.decoder)}
    summary.update(metrics[cfg.split] if subsets is None else {"subsets": metrics})
    write_per_line_tsv(run_dir / "per_line.tsv", normalised, subsets)
    (run_dir / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"per-line results: {run_dir / 'per_line.tsv'}")
    if unreadable:
        print(f"error: {unreadable} lines could not be read and are not scored (see the warnings above)",
              file=sys.stderr)
        sys.exit(1)
    return next(iter(metrics.values()))["cer"]  # the value a Hydra sweeper optimises (first subset)


if __name__ == "__main__":
    main()

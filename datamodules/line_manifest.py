"""Generic line-image corpora: a manifest TSV, or a folder of image + .gt.txt pairs (kraken convention).

manifest.tsv: UTF-8, tab-separated, with a header naming at least the columns `image` (path relative to
the manifest's folder) and `text`; a `writer_id` column (or `writer`) enables writer-disjoint splits.
Without a manifest, every `<name>.gt.txt` under root pairs with the image `<name>.png|.jpg|.jpeg|.tif|.tiff`
beside it, and the writer is the image's parent folder.

Validation (and test) lines are chosen by writer, never by line, so the score measures how the model
reads hands it has not seen: list writers explicitly (`val_writers`) or take a fraction of the lines by
whole writers, chosen with a seeded shuffle.
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

from hydra.utils import to_absolute_path

from datamodules.line_images import LineImageDataModule, LineSample
from recog.errors import ConfigError, DataError, read_utf8_lines

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


class ManifestFormatError(DataError):
    pass


def read_manifest(path: Path) -> list[LineSample]:
    lines = read_utf8_lines(path)
    rows = list(csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise ManifestFormatError(f"{path}: empty manifest")
    header = rows[0]
    for required in ("image", "text"):
        if required not in header:
            hint = " (the manifest must be tab-separated)" if len(header) == 1 else ""
            raise ManifestFormatError(f"{path}:1: header {header} lacks the column {required!r}{hint}")
    writer_column = next((c for c in ("writer_id", "writer") if c in header), None)
    samples, first_seen = [], {}
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise ManifestFormatError(f"{path}:{number}: {len(row)} fields, the header has {len(header)}")
        record = dict(zip(header, row))
        if record["image"] in first_seen:
            raise ManifestFormatError(f"{path}:{number}: image {record['image']} already listed on line "
                                      f"{first_seen[record['image']]}")
        first_seen[record["image"]] = number
        image = path.parent / record["image"]
        samples.append(LineSample(record["image"], image, record["text"],
                                  writer=record[writer_column] if writer_column else None))
    return samples


def read_gt_pairs(root: Path) -> list[LineSample]:
    if not root.is_dir():
        raise ManifestFormatError(f"{root}: no such folder; set data.root to the folder of the line images "
                                  "(with manifest.tsv, or name.gt.txt beside each name.png)")
    samples = []
    for gt_file in sorted(root.rglob("*.gt.txt")):
        stem = gt_file.name[: -len(".gt.txt")]
        candidates = [gt_file.with_name(stem + s) for s in IMAGE_SUFFIXES + tuple(map(str.upper, IMAGE_SUFFIXES))]
        image = next((candidate for candidate in candidates if candidate.exists()), None)
        if image is None:
            raise ManifestFormatError(f"{gt_file}: no image beside it ({stem} + one of {IMAGE_SUFFIXES})")
        text = " ".join(read_utf8_lines(gt_file)).strip()
        samples.append(LineSample(str(image.relative_to(root)), image, text, writer=gt_file.parent.name))
    if not samples:
        raise ManifestFormatError(f"{root}: no manifest.tsv and no *.gt.txt files")
    return samples


def split_by_writer(samples: list[LineSample], fraction: float, seed: int, exclude: set[str]) -> set[str]:
    """Writers (shuffled with `seed`) whose lines add up to at least `fraction` of all lines."""
    writers = sorted({s.writer for s in samples} - exclude)
    random.Random(seed).shuffle(writers)
    lines_per_writer = {w: sum(s.writer == w for s in samples) for w in writers}
    chosen, count = set(), 0
    for writer in writers:
        if count >= fraction * len(samples):
            break
        chosen.add(writer)
        count += lines_per_writer[writer]
    return chosen


def writer_set(writers, setting: str) -> set[str]:
    """Writer ids as strings (a manifest's ids are text even when they look like numbers)."""
    if writers is None:
        return set()
    if isinstance(writers, (str, int)):
        return {str(writers)}
    if not isinstance(writers, (list, tuple, set)):
        raise ConfigError(f"data.{setting} must be a list of writer ids, not {writers!r}")
    return {str(w) for w in writers}


class LineManifestDataModule(LineImageDataModule):
    def __init__(self, root: str, manifest: str | None = "manifest.tsv", val_writers: list[str] | None = None,
                 test_writers: list[str] | None = None, val_fraction: float = 0.15, test_fraction: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.root = Path(to_absolute_path(str(root)))
        self.manifest = manifest
        self.val_writers = writer_set(val_writers, "val_writers")
        self.test_writers = writer_set(test_writers, "test_writers")
        if self.val_writers & self.test_writers:
            raise ConfigError(f"writers {sorted(self.val_writers & self.test_writers)} are in both "
                              "data.val_writers and data.test_writers")
        self.val_fraction = val_fraction
        self.test_fraction = test_fraction

    def read_samples(self) -> list[LineSample]:
        manifest = self.root / self.manifest if self.manifest else None
        if manifest is not None and manifest.is_file():
            return read_manifest(manifest)
        return read_gt_pairs(self.root)

    def read_splits(self) -> dict[str, list[LineSample]]:
        samples = self.read_samples()
        if any(s.writer is None for s in samples):
            raise ManifestFormatError(f"{self.root}: writer-disjoint splits need a writer_id column")
        known = {s.writer for s in samples}
        for unknown in (self.val_writers | self.test_writers) - known:
            raise ManifestFormatError(f"writer {unknown!r} is not in {self.root} (writers: {sorted(known)})")
        test = self.test_writers or split_by_writer(samples, self.test_fraction, self.seed, set())
        val = self.val_writers or split_by_writer(samples, self.val_fraction, self.seed, test)
        splits = {
            "train": [s for s in samples if s.writer not in val | test],
            "val": [s for s in samples if s.writer in val],
        }
        if test:
            splits["test"] = [s for s in samples if s.writer in test]
        return splits

"""Tests of the synthetic IAM-layout dataset and its text generator."""

import json
import multiprocessing
import random
import re
import string
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datamodules.synthetic_lines import generate_iam_layout
from datamodules.synthetic_text import ALPHABET, generate_text_line

NUM_LINES = 60
SEED = 3


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return generate_iam_layout(tmp_path_factory.mktemp("first") / "synthetic",
                               num_lines=NUM_LINES, seed=SEED)


def read_rows(root: Path) -> list[list[str]]:
    text = (root / "ascii" / "lines.txt").read_text()
    return [line.split(" ") for line in text.splitlines() if not line.startswith("#")]


def image_path(root: Path, line_id: str) -> Path:
    form_id = line_id.rsplit("-", 1)[0]
    return root / "lines" / form_id[:3] / form_id / f"{line_id}.png"


def all_file_bytes(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*")) if path.is_file()}


def test_lines_txt_has_iam_header_and_one_row_per_line(dataset):
    text = (dataset / "ascii" / "lines.txt").read_text()
    assert text.startswith("#")
    rows = read_rows(dataset)
    assert len(rows) == NUM_LINES
    for fields in rows:
        assert len(fields) == 9
        assert re.fullmatch(r"s\d\d-\d{4}-\d\d", fields[0])
        assert fields[1] == "ok"
        assert all(field.isdigit() for field in fields[2:8])


def test_every_row_describes_its_image(dataset):
    for line_id, _, _, _, x, y, width, height, _ in read_rows(dataset):
        with Image.open(image_path(dataset, line_id)) as image:
            assert image.mode == "L"
            assert image.size == (int(width), int(height))
            pixels = np.asarray(image)
        assert (x, y) == ("0", "0")
        assert np.median(pixels) > 180, "background should be light paper"
        assert pixels.min() < 150, "there should be dark ink"


def test_splits_partition_the_forms(dataset):
    forms_in_rows = {fields[0].rsplit("-", 1)[0] for fields in read_rows(dataset)}
    splits = {name: (dataset / "splits" / f"{name}.lst").read_text().split()
              for name in ("train", "val", "test")}
    assert all(splits.values()), "no split should be empty"
    all_listed = [form for forms in splits.values() for form in forms]
    assert len(all_listed) == len(set(all_listed)), "a form is in two splits"
    assert set(all_listed) == forms_in_rows


def test_transcripts_use_only_the_alphabet(dataset):
    for fields in read_rows(dataset):
        text = " ".join(fields[8].split("|"))
        assert "" not in fields[8].split("|"), "empty word means a double space"
        assert set(text) <= set(ALPHABET)


def test_same_seed_gives_identical_bytes(dataset, tmp_path):
    again = generate_iam_layout(tmp_path / "again", num_lines=NUM_LINES, seed=SEED)
    assert all_file_bytes(again) == all_file_bytes(dataset)


def test_other_seed_gives_other_data(dataset, tmp_path):
    other = generate_iam_layout(tmp_path / "other", num_lines=NUM_LINES, seed=SEED + 1)
    assert read_rows(other) != read_rows(dataset)


def test_complete_dataset_is_not_rewritten(dataset):
    files = [dataset / "COMPLETE", dataset / "ascii" / "lines.txt",
             image_path(dataset, read_rows(dataset)[0][0])]
    mtimes = [path.stat().st_mtime_ns for path in files]
    assert generate_iam_layout(dataset, num_lines=NUM_LINES, seed=SEED) == dataset
    assert [path.stat().st_mtime_ns for path in files] == mtimes
    assert json.loads((dataset / "COMPLETE").read_text())["seed"] == SEED
    assert [path.name for path in dataset.parent.iterdir()] == [dataset.name], \
        "no temporary folder should be left behind"


def test_refuses_to_overwrite_other_content(dataset, tmp_path):
    with pytest.raises(FileExistsError):
        generate_iam_layout(dataset, num_lines=NUM_LINES, seed=SEED + 1)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        generate_iam_layout(foreign, num_lines=NUM_LINES)


def test_racing_processes_publish_one_complete_dataset(tmp_path):
    root = tmp_path / "raced"
    arguments = (root, 30, SEED)
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=generate_iam_layout, args=arguments) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert [path.name for path in tmp_path.iterdir()] == ["raced"]
    reference = generate_iam_layout(tmp_path / "reference", num_lines=30, seed=SEED)
    assert all_file_bytes(root) == all_file_bytes(reference)


def test_alphabet_excludes_the_forbidden_characters():
    assert not set(ALPHABET) & set("|`~^\\{}<>@_")
    assert set(string.ascii_letters + string.digits + " .,;:!?'\"()-") <= set(ALPHABET)


def test_text_lines_are_well_formed():
    rng = random.Random(0)
    for _ in range(2000):
        line = generate_text_line(rng)
        assert line == line.strip() and "  " not in line
        assert 3 <= len(line.split(" ")) <= 9
        assert 10 <= len(line) <= 55
        assert set(line) <= set(ALPHABET)


def test_every_letter_and_digit_is_common():
    rng = random.Random(1)
    counts = Counter("".join(generate_text_line(rng) for _ in range(5000)))
    rare = {character: counts[character]
            for character in string.ascii_letters + string.digits if counts[character] < 50}
    assert not rare

"""recog-check on a small IAM-layout data set with one sample of each problem (cases B01 and B20)."""
from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from PIL import Image

from recog.check import Problem, check_data
from recog.config import CONFIG_DIR

HEIGHT = 32  # = data.height, so image widths are the normalised widths; the default model divides them by 4
LINES = {  # id: (split, width, text)
    "x01-000-00": ("train", 64, "abc"),
    "x01-000-01": ("train", 12, "aab"),  # B01: 3 frames, but "aab" needs 4 (a blank between the two a's)
    "x01-000-02": ("train", 16, "aab"),  # 4 frames: feasible
    "x01-000-03": ("train", 64, "abd"),  # "d" is not in the alphabet
    "x02-000-00": ("val", 64, "cab"),  # a PNG whose header is fine but whose pixel data is cut short
    "x02-000-01": ("val", 64, "ba"),
}


def make_iam_fixture(root: Path) -> None:
    rows = []
    for line_id, (_, width, text) in LINES.items():
        form = line_id.rsplit("-", 1)[0]
        image_path = root / "lines" / form.split("-")[0] / form / f"{line_id}.png"
        image_path.parent.mkdir(parents=True, exist_ok=True)
        noise = np.random.default_rng(0).integers(0, 256, (HEIGHT, width), dtype=np.uint8)
        Image.fromarray(noise).save(image_path)
        rows.append(f"{line_id} ok 154 19 0 0 {width} {HEIGHT} {text}")
    corrupt = root / "lines" / "x02" / "x02-000" / "x02-000-00.png"
    corrupt.write_bytes(corrupt.read_bytes()[:400])
    (root / "ascii").mkdir()
    (root / "ascii" / "lines.txt").write_text("\n".join(rows) + "\n")
    (root / "alphabet.txt").write_text("a\nb\nc\n")
    (root / "train.lst").write_text("x01-000\n")
    (root / "val.lst").write_text("x02-000\n")


def overrides(root: Path) -> list[str]:
    return ["data=iam", f"data.root={root}", f"data.splits.train={root / 'train.lst'}",
            f"data.splits.val={root / 'val.lst'}", f"data.alphabet={root / 'alphabet.txt'}",
            "data.unknown_chars=unknown", f"data.height={HEIGHT}", "data.min_width=4", "data.num_workers=0"]


def test_check_lists_every_problem_by_split_and_id(tmp_path):
    make_iam_fixture(tmp_path / "iam")
    run_dir = tmp_path / "run"
    result = subprocess.run(["recog-check", *overrides(tmp_path / "iam"), f"hydra.run.dir={run_dir}"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-3000:]
    with open(run_dir / "check.tsv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    assert [(row["split"], row["id"], row["problem"]) for row in rows] == [
        ("train", "x01-000-01", "infeasible"),
        ("train", "x01-000-03", "unknown characters"),
        ("val", "x02-000-00", "unreadable"),
    ]
    assert rows[0]["detail"] == "3 output frames < 4 needed for the transcript"
    assert rows[1]["detail"] == "'d' U+0064"
    assert "x02-000-00.png" in rows[2]["detail"] and "truncated" in rows[2]["detail"]
    lines = result.stdout.splitlines()  # Hydra's log lines come first
    table = lines[lines.index("split  id          problem             detail"):]
    assert table[1].split()[:3] == ["train", "x01-000-01", "infeasible"]
    assert table[-1].startswith("3 problems in 3 of 6 samples")
    assert "decoding inputs" in result.stderr and "Traceback" not in result.stderr


def test_clean_data_has_no_problems(tmp_path):
    root = tmp_path / "iam"
    make_iam_fixture(root)
    (root / "train.lst").write_text("x01-000-00\nx01-000-02\n")
    (root / "val.lst").write_text("x02-000-01\n")
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides(root))
    assert check_data(cfg) == ([], 3)
    (root / "val.lst").write_text("x01-000-01\n")  # B01 in the validation split
    assert check_data(cfg) == ([Problem("val", "x01-000-01", "infeasible",
                                        "3 output frames < 4 needed for the transcript")], 3)


def test_b16_recog_check_lists_the_corrupt_audio_files_of_a_speech_corpus(cases_dir, tmp_path):
    """Case B16 in training data: each bad file is listed as unreadable with its reason; the good ones pass."""
    import soundfile
    good = tmp_path / "good.wav"
    soundfile.write(good, np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32), 16000)
    rows = [(good, "A GOOD ONE")] + [(cases_dir / f"B16_{name}.wav", "A BAD ONE")
                                      for name in ("empty_file", "zero_frames", "truncated")]
    manifest = tmp_path / "train.tsv"
    manifest.write_text("path\ttext\n" + "".join(f"{path}\t{text}\n" for path, text in rows))
    with initialize_config_dir(CONFIG_DIR, version_base="1.3"):
        cfg = compose("train", overrides=["data=audio_manifest", "model=speech", f"data.manifests.train={manifest}",
                                          f"data.manifests.val={manifest}", f"hydra.run.dir={tmp_path}"])
    problems, checked = check_data(cfg)
    unreadable = sorted((p.split, Path(p.detail.split(":")[0]).name) for p in problems if p.problem == "unreadable")
    assert checked == 8
    assert unreadable == sorted((split, f"B16_{name}.wav") for split in ("train", "val")
                                for name in ("empty_file", "truncated", "zero_frames"))

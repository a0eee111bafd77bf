"""End to end through the console scripts: tiny generated data, a few training steps through Hydra,
evaluation, transcription; plus Hydra path handling (case B22) and bf16 mixed precision (case B03)."""
from __future__ import annotations

import csv
import json
import math
import shutil
import sys
from pathlib import Path

import pytest
from PIL import Image

from recog import transcribe
from tests.conftest import TINY_MODEL, run, shared_path, synthetic_data

@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> dict:
    """One short training run on the built-in generator, shared by the tests below."""
    tmp = tmp_path_factory.mktemp("e2e")
    run_dir = tmp / "run"
    run(["recog-train", *synthetic_data(tmp / "cache"), *TINY_MODEL, "trainer.max_epochs=2",
         f"hydra.run.dir={run_dir}"])
    return {"tmp": tmp, "run_dir": run_dir, "cache": tmp / "cache",
            "checkpoint": run_dir / "checkpoints" / "best.ckpt"}


def test_training_writes_a_complete_run_folder(trained_run):
    run_dir = trained_run["run_dir"]
    for expected in ("checkpoints/best.ckpt", "checkpoints/last.ckpt", "metrics.json", "alphabet.txt",
                     "training_curves.png", ".hydra/config.yaml", "csv/metrics.csv", "train.log"):
        assert (run_dir / expected).exists(), expected
    assert any((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 2 and 0.0 <= metrics["best_val_cer"] <= 1.5


def test_eval_writes_per_line_tsv_and_prints_summary(trained_run):
    eval_dir = trained_run["tmp"] / "eval"
    result = run(["recog-eval", f"ckpt_path={trained_run['checkpoint']}", *synthetic_data(trained_run["cache"]),
                  "split=test", f"hydra.run.dir={eval_dir}"])
    assert "CER" in result.stdout and "WER" in result.stdout
    with open(eval_dir / "per_line.tsv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    (test_list,) = trained_run["cache"].glob("*/splits/test.lst")
    test_forms = test_list.read_text().split()
    assert len(rows) == 10 * len(test_forms)
    assert set(rows[0]) == {"id", "reference", "hypothesis", "char_errors", "chars", "word_errors", "words"}
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    assert metrics["chars"] == sum(int(r["chars"]) for r in rows)
    assert metrics["cer"] == pytest.approx(sum(int(r["char_errors"]) for r in rows) / metrics["chars"])


def test_transcribe_folder_batched_equals_one_by_one_and_survives_bad_files(trained_run, tmp_path):
    images = sorted(trained_run["cache"].glob("*/lines/*/*/*.png"))[:12]
    folder = tmp_path / "images"
    folder.mkdir()
    for image in images:
        shutil.copy(image, folder / image.name)
    Image.open(images[0]).convert("RGBA").save(folder / "zz_rgba.png")
    Image.open(images[1]).convert("RGB").save(folder / "zz_rgb.jpg")
    batched = run(["recog-transcribe", str(trained_run["checkpoint"]), str(folder), "--batch-size", "16"])
    single = run(["recog-transcribe", str(trained_run["checkpoint"]), str(folder), "--batch-size", "1"])
    assert batched.stdout == single.stdout
    lines = batched.stdout.splitlines()
    assert len(lines) == 14 and all(line.count("\t") == 1 for line in lines)

    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    failed = run(["recog-transcribe", str(trained_run["checkpoint"]), str(folder), "--json"], check=False)
    assert failed.returncode == 1
    records = [json.loads(line) for line in failed.stdout.splitlines()]
    assert len(records) == 15
    assert [r["path"] for r in records if "error" in r] == [str(folder / "broken.png")]
    assert "broken.png" in failed.stderr and "Traceback" not in failed.stderr


def test_transcribe_reports_a_bad_checkpoint(tmp_path):
    (tmp_path / "x.ckpt").write_bytes(b"not a checkpoint")
    result = run(["recog-transcribe", str(tmp_path / "x.ckpt"), str(tmp_path)], check=False)
    assert result.returncode == 2 and "not a recog checkpoint" in result.stderr and "Traceback" not in result.stderr


def test_b22_relative_paths_resolve_against_the_launch_directory(trained_run, tmp_path):
    """Launched from another folder, with Hydra changing into the run folder, and under multirun."""
    launch = tmp_path / "launch"
    shutil.copytree(trained_run["cache"], launch / "relative" / "cache")
    common = ["data.cache_dir=relative/cache", "data.num_lines=40", "data.num_workers=0", *TINY_MODEL,
              "trainer.max_epochs=1", "+trainer.limit_train_batches=1", "+trainer.limit_val_batches=1",
              "hydra.job.chdir=true"]
    run([sys.executable, "-m", "recog.train", *common], cwd=launch)
    run_dirs = list((launch / "outputs").glob("*/*/checkpoints/best.ckpt"))
    assert len(run_dirs) == 1
    run([sys.executable, "-m", "recog.train", "-m", *common, "model.cell=lstm,gru"], cwd=launch)
    assert len(list((launch / "outputs" / "multirun").glob("*/*/[01]/checkpoints/best.ckpt"))) == 2
    # Had a path resolved against the run folder (Hydra's cwd here), data would be generated there.
    assert not list((launch / "outputs").rglob("relative"))
    assert sorted(p.name for p in (launch / "relative" / "cache").iterdir()) == \
        sorted(p.name for p in trained_run["cache"].iterdir())


def test_b03_bf16_mixed_training_logs_no_nan(trained_run, tmp_path):
    run(["recog-train", *synthetic_data(trained_run["cache"]), *TINY_MODEL, "trainer.precision=bf16-mixed",
         "trainer.max_epochs=1", "trainer.log_every_n_steps=1", f"hydra.run.dir={tmp_path / 'run'}"])
    with open(tmp_path / "run" / "csv" / "metrics.csv") as handle:
        losses = [float(row["train/loss"]) for row in csv.DictReader(handle) if row.get("train/loss")]
    assert losses and all(math.isfinite(loss) for loss in losses)


def test_real_iam_sample_trains_and_transcribes(tmp_path):
    iam = shared_path("data", "iam_lines")
    split = tmp_path / "a01-000u.lst"
    split.write_text("a01-000u\n")  # a form id: all 7 lines
    run_dir = tmp_path / "run"
    run(["recog-train", "data=iam", f"data.root={iam}", f"data.splits.train={split}", f"data.splits.val={split}",
         "data.num_workers=0", "data.batch_size=4", *TINY_MODEL, "trainer.max_epochs=2",
         f"hydra.run.dir={run_dir}"])
    result = run(["recog-transcribe", str(run_dir / "checkpoints" / "best.ckpt"), str(iam / "lines")])
    paths = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert sorted(Path(p).name for p in paths) == [f"a01-000u-0{i}.png" for i in range(7)]


def test_fine_tuning_extends_the_alphabet(trained_run, tmp_path):
    """init_from: a line-manifest corpus with a character the pretrained model never saw."""
    data = tmp_path / "lines"
    for writer, texts in {"w1": ["café au lait", "été"], "w2": ["thé"]}.items():
        (data / writer).mkdir(parents=True)
        for index, text in enumerate(texts):
            Image.new("L", (30 * len(text), 40), 255).save(data / writer / f"{index}.png")
            (data / writer / f"{index}.gt.txt").write_text(text, encoding="utf-8")
    run_dir = tmp_path / "run"
    run(["recog-train", "data=lines", f"data.root={data}", "data.val_writers=[w2]", "data.height=32",
         "data.num_workers=0", f"init_from={trained_run['checkpoint']}", "trainer.max_epochs=1",
         f"hydra.run.dir={run_dir}"])
    old = (trained_run["run_dir"] / "alphabet.txt").read_text().splitlines()
    new = (run_dir / "alphabet.txt").read_text().splitlines()
    assert new == old + ["é"]


def assert_spans_in_order(spans: list[dict], width: int) -> None:
    """Each span inside the image, non-empty, and after the previous one (frames belong to one character)."""
    previous_end = 0.0
    for span in spans:
        assert previous_end <= span["start"] < span["end"] <= width, spans
        assert 0.0 <= span["confidence"] <= 1.0
        previous_end = span["end"]


def test_transcribe_align_and_plot(trained_run, tmp_path, capsys):
    """--align: spans in original pixels with confidences; --plot: one PNG per input, distinct names for
    equal file names in different folders; a bad file still gets its error line."""
    images = sorted(trained_run["cache"].glob("*/lines/*/*/*.png"))[:3]
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        for image in images:
            shutil.copy(image, tmp_path / folder / image.name)
    (tmp_path / "two" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    plots = tmp_path / "plots"
    status = transcribe.main([str(trained_run["checkpoint"]), str(tmp_path / "one"), str(tmp_path / "two"),
                              "--align", "--plot", str(plots)])
    assert status == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    errors = [r for r in records if "error" in r]
    assert [r["path"] for r in errors] == [str(tmp_path / "two" / "broken.png")] and list(errors[0]) == ["path", "error"]
    aligned = [r for r in records if "error" not in r]
    assert len(aligned) == 6
    for record in aligned:
        assert list(record) == ["path", "text", "unit", "confidence", "words", "characters", "plot"]
        assert record["unit"] == "pixels" and 0.0 <= record["confidence"] <= 1.0
        assert "".join(c["text"] for c in record["characters"]) == record["text"]
        assert [w["text"] for w in record["words"]] == record["text"].split()
        width = Image.open(record["path"]).width
        assert_spans_in_order(record["characters"], width)
        assert_spans_in_order(record["words"], width)
    assert sum(len(r["characters"]) for r in aligned) > 0
    written = sorted(plots.iterdir())
    assert sorted(Path(r["plot"]) for r in aligned) == written and len(written) == 6
    assert all(path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for path in written)

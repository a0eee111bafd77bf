"""Faults of long runs, injected into real recog-train runs: a process killed mid-epoch and resumed, a kill while
a checkpoint is being written, NaN batches, a training file that turns out corrupt in the middle of an epoch.

The runs train a tiny model on 40 built-in lines (20 training lines with a known alphabet: 3 batches per epoch)."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from datamodules.synthetic import SyntheticLinesDataModule
from recog.checkpoint_io import AtomicCheckpointIO
from tests.conftest import REPO_ROOT, TINY_MODEL, run, synthetic_data
from tests.fault_injection import final_weights

INJECT = "tests.fault_injection"


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("faults") / "cache"
    SyntheticLinesDataModule(cache_dir=str(folder), num_lines=40).prepare_data()
    return folder


def train(run_dir: Path, cache: Path, *overrides: str, check: bool = True) -> subprocess.CompletedProcess:
    """recog-train as `python -m recog.train` from the repository root, so the callbacks of `tests` import."""
    return run([sys.executable, "-m", "recog.train", *synthetic_data(cache), *TINY_MODEL, "model.dropout=0.2",
                f"hydra.run.dir={run_dir}", *overrides], cwd=REPO_ROOT, check=check)


def recorded_steps(run_dir: Path) -> dict[int, tuple[float, str, float]]:
    """step -> (learning rate, the batch's line ids, the next draw of the global random stream)."""
    rows = (line.split("\t") for line in (run_dir / "steps.tsv").read_text().splitlines())
    return {int(step): (float(rate), ids, float(draw)) for step, rate, ids, draw in rows}


@pytest.fixture(scope="module")
def uninterrupted(cache, tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    train(run_dir, cache, *RESUMABLE, f"+callbacks.steps.path={run_dir / 'steps.tsv'}")
    return run_dir


# 3 epochs, dropout, a loader process and the one-cycle schedule: everything that must continue exactly
RESUMABLE = ["trainer.max_epochs=3", "data.num_workers=1", f"+callbacks.steps._target_={INJECT}.RecordSteps"]


@pytest.mark.parametrize("where", ["mid-epoch", "epoch end"])
def test_a_killed_run_resumes_to_the_same_weights_batches_and_schedule(cache, uninterrupted, tmp_path, where):
    """The interrupted run is killed (SIGKILL) as the second step of epoch 2 begins, with last.ckpt written after
    every step (mid-epoch), or as epoch 3 begins, with last.ckpt written at every epoch's end (the default). The
    resumed run must take exactly the steps that were left, with the same batches, learning rates and random
    draws, and end with the uninterrupted run's weights."""
    total_steps = json.loads((uninterrupted / "metrics.json").read_text())["steps"]
    steps_per_epoch = total_steps // 3
    assert steps_per_epoch >= 2
    kill_step, checkpointing = ((steps_per_epoch + 1, ["callbacks.last_checkpoint.every_n_train_steps=1"])
                                if where == "mid-epoch" else (2 * steps_per_epoch, []))
    killed, resumed = tmp_path / "killed", tmp_path / "resumed"
    crashed = train(killed, cache, *RESUMABLE, *checkpointing, f"+callbacks.steps.path={killed / 'steps.tsv'}",
                    f"+callbacks.kill._target_={INJECT}.KillAtStep", f"+callbacks.kill.step={kill_step}", check=False)
    assert crashed.returncode == -signal.SIGKILL
    assert torch.load(killed / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == kill_step
    train(resumed, cache, *RESUMABLE, *checkpointing, f"+callbacks.steps.path={resumed / 'steps.tsv'}",
          f"ckpt_path={killed / 'checkpoints' / 'last.ckpt'}")

    whole_steps, resumed_steps = recorded_steps(uninterrupted), recorded_steps(resumed)
    assert sorted(resumed_steps) == list(range(kill_step, total_steps))  # exactly the steps that were left,
    assert resumed_steps == {step: whole_steps[step] for step in resumed_steps}  # same rate, batch, random stream
    expected = final_weights(uninterrupted / "checkpoints" / "last.ckpt")
    got = final_weights(resumed / "checkpoints" / "last.ckpt")
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6, msg=name)
    assert json.loads((resumed / "metrics.json").read_text())["steps"] == total_steps


SAVER = textwrap.dedent("""
    import sys, torch
    from recog.checkpoint_io import AtomicCheckpointIO
    checkpoint_io, version = AtomicCheckpointIO(), 0
    while True:
        version += 1
        checkpoint_io.save_checkpoint({"version": version, "weights": torch.full((4_000_000,), float(version))},
                                      sys.argv[1])
        print(version, flush=True)
""")


def test_a_kill_while_a_checkpoint_is_written_leaves_the_previous_one_whole(tmp_path):
    """A process writes 16 MB checkpoints over and over and is killed at staggered moments of a write."""
    target = tmp_path / "last.ckpt"
    for delay in (0.0, 0.01, 0.03, 0.07):
        saver = subprocess.Popen([sys.executable, "-c", SAVER, str(target)], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                 text=True)
        written = int(saver.stdout.readline())  # one checkpoint is complete; the next is being written
        time.sleep(delay)
        saver.send_signal(signal.SIGKILL)
        saver.wait()
        checkpoint = torch.load(target, weights_only=False)
        assert checkpoint["version"] >= written
        assert torch.equal(checkpoint["weights"], torch.full((4_000_000,), float(checkpoint["version"])))
    # an interrupted write leaves at most its temporary file, which the next save of the same target removes
    AtomicCheckpointIO().save_checkpoint({"version": 0}, target)
    assert [path.name for path in tmp_path.iterdir()] == ["last.ckpt"]


def test_a_failed_write_keeps_the_old_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"version": 1}, target)

    def disk_full(checkpoint, handle):
        handle.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space left"):
        AtomicCheckpointIO().save_checkpoint({"version": 2}, target)
    monkeypatch.undo()
    assert torch.load(target, weights_only=False) == {"version": 1}
    assert [path.name for path in tmp_path.iterdir()] == ["last.ckpt"]


def test_nan_batches_are_skipped_and_counted_and_the_weights_stay_finite(cache, tmp_path):
    train(tmp_path, cache, "trainer.max_epochs=2", f"+callbacks.poison._target_={INJECT}.PoisonSteps",
          "+callbacks.poison.steps=[1,2,5]")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["train/nonfinite_skipped"] == 3 and metrics["steps"] == 6  # 2 epochs of 3 batches
    weights = final_weights(tmp_path / "checkpoints" / "last.ckpt")
    assert all(torch.isfinite(tensor).all() for tensor in weights.values())
    assert "step 5: the gradient norm is nan; the step is skipped (3 skipped so far, 1 in a row)" in \
        (tmp_path / "train.log").read_text()


def test_a_run_whose_steps_keep_failing_stops_with_a_clear_message(cache, tmp_path):
    result = train(tmp_path, cache, "trainer.max_epochs=2", f"+callbacks.poison._target_={INJECT}.PoisonSteps",
                   "callbacks.nonfinite_guard.max_consecutive=3", check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: training diverged: 3 steps in a row (up to step 2) had a non-finite loss or gradient" in result.stderr


def corrupt_one_training_image(cache: Path, copy: Path) -> str:
    """A copy of the cache with one training line's PNG cut after its header (its size still reads)."""
    shutil.copytree(cache, copy)
    (train_list,) = copy.glob("*/splits/train.lst")
    form = train_list.read_text().split()[0]
    image = sorted(copy.glob(f"*/lines/*/{form}/*.png"))[0]
    image.write_bytes(image.read_bytes()[:200])
    return image.stem


def test_an_image_that_fails_mid_epoch_is_skipped_logged_and_counted(cache, tmp_path):
    line_id = corrupt_one_training_image(cache, tmp_path / "cache")
    train(tmp_path / "run", tmp_path / "cache", "trainer.max_epochs=2")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["train/skipped"] == 1 and metrics["steps"] == 6  # the last epoch's count; no step lost
    log_text = (tmp_path / "run" / "train.log").read_text()
    assert log_text.count(f"skipping {line_id}:") == 2  # once per epoch
    assert "unreadable samples skipped in the last epoch: 1 train, 0 val" in log_text


def test_an_image_that_fails_mid_epoch_stops_the_run_when_the_policy_is_fail(cache, tmp_path):
    line_id = corrupt_one_training_image(cache, tmp_path / "cache")
    result = train(tmp_path / "run", tmp_path / "cache", "trainer.max_epochs=2", "data.on_bad_sample=fail",
                   check=False)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"{line_id}.png" in result.stderr.splitlines()[-1]

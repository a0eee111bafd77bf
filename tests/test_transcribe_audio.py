"""Speech checkpoints through recog-transcribe: any audio format, bad files, long recordings in windows,
alignments in seconds."""
from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import soundfile
import torch

from recog.alphabet import ENGLISH_SPEECH_SYMBOLS
from recog.audio import AudioPreprocessor
from recog.decoding.decoders import decoder_config
from recog.evaluate import transcribe_split
from recog.lightning_module import CTCRecognitionModule
from recog.recognizer import Recognizer
from recog.transcribe import main as transcribe
from recog.windows import plan_windows
from tests.conftest import save_checkpoint, shared_path

TINY_SPEECH_MODEL = {"_target_": "recog.model.CTCRecognizer", "channels": [4, 4], "pools": [[2, 2], [2, 2]],
                     "hidden_size": 8, "num_layers": 1, "dropout": 0.0}


@pytest.fixture(scope="module")
def speech_checkpoint(tmp_path_factory) -> str:
    """A randomly initialised speech model saved as recog-train saves one (hyperparameters + weights)."""
    torch.manual_seed(0)
    module = CTCRecognitionModule(model=TINY_SPEECH_MODEL, alphabet=list(ENGLISH_SPEECH_SYMBOLS),
                                  preprocessing=AudioPreprocessor(n_mels=40).to_dict(),
                                  normalizer={"uppercase": True})
    return str(save_checkpoint(module, tmp_path_factory.mktemp("speech") / "speech.ckpt"))


def noise(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(round(seconds * rate))).astype(np.float32)


@pytest.mark.parametrize("length", [1, 5, 999, 1000, 1001, 2599, 2600, 5000, 12345])
@pytest.mark.parametrize("stride", [1, 4])
def test_windows_keep_every_output_frame_exactly_once(length, stride):
    windows = plan_windows(length, window=1000, context=200, stride=stride)
    total_frames = length // stride  # a front end that pools the width by `stride`
    kept = []
    for window in windows:
        assert window.start % stride == 0 and window.end - window.start <= 1000
        local_frames = (window.end - window.start) // stride
        end = total_frames if window.keep_end is None else window.keep_end
        assert window.first_frame(stride) <= window.keep_start and end <= window.first_frame(stride) + local_frames
        kept += range(window.keep_start, end)
    assert kept == list(range(total_frames))
    if length > 1000:  # every kept frame but the outermost has 200 columns of context on both sides
        assert all(w.keep_start * stride - w.start >= 200 for w in windows[1:])


def test_window_without_room_to_keep_anything_is_an_error():
    with pytest.raises(ValueError, match="longer than twice the context"):
        plan_windows(5000, window=400, context=200, stride=4)


def test_windowed_recognition_has_the_whole_input_frame_count(speech_checkpoint):
    whole = Recognizer.from_checkpoint(speech_checkpoint, "cpu")
    windowed = Recognizer.from_checkpoint(speech_checkpoint, "cpu", window=400, context=80, batch_size=3)
    features = [whole.preprocessor(torch.from_numpy(noise(seconds, 16000, seed)))
                for seed, seconds in enumerate((0.5, 3.0, 12.0))]
    result, reference = windowed.run_tensors(features), whole.run_tensors(features)
    assert result.output_lengths.tolist() == reference.output_lengths.tolist() == [12, 75, 300]
    assert torch.equal(result.sample_log_probs(0), reference.sample_log_probs(0))  # one window: identical


def test_any_format_rate_and_channel_count_is_transcribed(speech_checkpoint, tmp_path, capsys):
    soundfile.write(tmp_path / "a.flac", noise(1.0, 8000), 8000)
    soundfile.write(tmp_path / "b.wav", np.stack([noise(1.5, 44100), noise(1.5, 44100, 1)], axis=1), 44100,
                    subtype="PCM_24")
    soundfile.write(tmp_path / "c.ogg", noise(0.7, 22050), 22050)
    (tmp_path / "notes.txt").write_text("not audio, and not picked up from the folder")
    assert transcribe([speech_checkpoint, str(tmp_path), "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(tmp_path / name) for name in ("a.flac", "b.wav", "c.ogg")]


def test_b16_bad_files_get_an_error_each_and_the_rest_is_transcribed(speech_checkpoint, tmp_path, capsys):
    cases = shared_path("cases")
    good = tmp_path / "good.wav"
    soundfile.write(good, noise(1.0, 16000), 16000)
    bad = [cases / "B16_empty_file.wav", cases / "B16_truncated.wav", cases / "B16_zero_frames.wav"]
    assert transcribe([speech_checkpoint, *map(str, bad), str(good), "--device", "cpu"]) == 1
    captured = capsys.readouterr()
    assert [line.split("\t")[0] for line in captured.out.splitlines()] == [str(good)]
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3 and all(str(path) in error for path, error in zip(bad, errors))
    assert "3 of 4 files failed" in captured.err


def test_a_file_whose_output_cannot_be_decoded_fails_alone(speech_checkpoint, tmp_path, capsys):
    good = tmp_path / "good.wav"
    soundfile.write(good, noise(1.0, 16000), 16000)
    loud = tmp_path / "loud.wav"  # finite float samples whose power overflows float32: the features become NaN
    soundfile.write(loud, noise(1.0, 16000) * 1e30, 16000, subtype="FLOAT")
    assert transcribe([speech_checkpoint, str(loud), str(good), "--device", "cpu"]) == 1
    captured = capsys.readouterr()
    assert [line.split("\t")[0] for line in captured.out.splitlines()] == [str(good)]
    assert f"error: {loud}: the model's output cannot be decoded: frame 0 of sample 0: log_probs must be" \
        in captured.err


def test_a_sample_whose_output_cannot_be_decoded_gets_no_text_and_the_others_do(speech_checkpoint, caplog):
    recognizer = Recognizer.from_checkpoint(speech_checkpoint, "cpu", decoder=decoder_config("beam"))
    features = torch.randn(3, 1, recognizer.preprocessor.input_height, 200, generator=torch.Generator().manual_seed(0))
    features[1] = float("inf")
    lengths = torch.tensor([200, 200, 150])
    recognition = recognizer.run(features, lengths)
    assert recognition.texts[1] is None and list(recognition.errors) == [1]
    assert recognition.errors[1].startswith("the model's output cannot be decoded: frame 0 of sample 1: ")
    alone = [recognizer.run(features[i : i + 1], lengths[i : i + 1]).texts[0] for i in (0, 2)]
    assert [recognition.texts[0], recognition.texts[2]] == alone
    # recog-eval scores it as an empty hypothesis, says so, and goes on
    batch = {"ids": ["a", "b", "c"], "texts": ["x", "y", "z"], "images": features, "widths": lengths,
             "num_skipped": 0}
    with caplog.at_level(logging.WARNING):
        rows, skipped = transcribe_split(recognizer, [batch])
    assert rows == [("a", "x", alone[0]), ("b", "y", ""), ("c", "z", alone[1])] and skipped == 0
    assert "line b: the model's output cannot be decoded: frame 0 of sample 1" in caplog.text


def test_a_long_recording_is_read_in_windows(speech_checkpoint, tmp_path, capsys):
    soundfile.write(tmp_path / "long.flac", noise(95.0, 16000), 16000)  # 9,501 frames: 4 windows of 3,000
    assert transcribe([speech_checkpoint, str(tmp_path / "long.flac"), "--device", "cpu", "--json"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"path", "text"}


def test_align_gives_seconds_within_the_recording_and_plots_a_spectrogram(speech_checkpoint, tmp_path, capsys):
    audio = tmp_path / "clip.wav"
    soundfile.write(audio, noise(2.0, 16000), 16000)
    status = transcribe([speech_checkpoint, str(audio), "--device", "cpu", "--align", "--plot", str(tmp_path / "png")])
    assert status == 0
    record = json.loads(capsys.readouterr().out)
    assert record["unit"] == "seconds" and 0 < record["confidence"] <= 1
    spans = record["characters"] + record["words"]
    assert all(0 <= span["start"] <= span["end"] <= 2.0 for span in spans)
    assert len(record["characters"]) == len(record["text"])
    assert record["plot"].endswith(".png") and (tmp_path / "png").joinpath(record["plot"].split("/")[-1]).is_file()


def test_real_recordings_of_every_shared_speech_folder_are_read(speech_checkpoint, capsys):
    folders = [shared_path("data", name) for name in ("librispeech", "ljspeech_subset",
                                                      "librivox_sense_and_sensibility")]
    recordings = sorted(str(p) for folder in folders for p in folder.rglob("*.flac"))
    assert len(recordings) >= 3
    assert transcribe([speech_checkpoint, *map(str, folders), "--device", "cpu"]) == 0
    assert sorted(line.split("\t")[0] for line in capsys.readouterr().out.splitlines()) == recordings


def write_librispeech_subset(root, subset: str, speaker: str, texts: list[str]) -> None:
    chapter = root / subset / speaker / "198"
    chapter.mkdir(parents=True)
    rows = []
    for number, text in enumerate(texts):
        utterance_id = f"{speaker}-198-{number:04d}"
        soundfile.write(chapter / f"{utterance_id}.flac", noise(1.0 + number, 16000, number), 16000)
        rows.append(f"{utterance_id} {text}")
    (chapter / f"{speaker}-198.trans.txt").write_text("\n".join(rows) + "\n")


def test_eval_scores_each_librispeech_subset_separately(speech_checkpoint, tmp_path):
    import subprocess

    write_librispeech_subset(tmp_path / "LibriSpeech", "test-clean", "19", ["A CAT", "THE DOG RAN"])
    write_librispeech_subset(tmp_path / "LibriSpeech", "test-other", "20", ["HELLO"])
    result = subprocess.run(["recog-eval", f"ckpt_path={speech_checkpoint}", "data=librispeech",
                             f"data.root={tmp_path / 'LibriSpeech'}", "data.splits.test=[test-clean,test-other]",
                             "data.num_workers=0", "device=cpu", f"hydra.run.dir={tmp_path / 'run'}"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "test subset test-clean" in result.stdout and "test subset test-other" in result.stdout
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["subsets"]["test-clean"]["words"] == 5 and metrics["subsets"]["test-other"]["words"] == 1
    assert metrics["subsets"]["test-clean"]["lines"] == 2 and metrics["subsets"]["test-other"]["lines"] == 1
    per_line = (tmp_path / "run" / "per_line.tsv").read_text().splitlines()
    assert per_line[0].endswith("\tsubset") and sorted(row.split("\t")[-1] for row in per_line[1:]) == [
        "test-clean", "test-clean", "test-other"]

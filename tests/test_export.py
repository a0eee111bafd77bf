"""recog-export: TorchScript and ONNX files give the checkpoint's text and log-probs (within 1e-4), batched or one
by one, in windows, through recog-transcribe too, for an image and a speech model; bad files are clear errors."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from recog.alphabet import ENGLISH_SPEECH_SYMBOLS
from recog.audio import AudioPreprocessor
from recog.errors import ConfigError
from recog.export import DEFAULT_SUFFIXES, FORMATS, main as export, quiet_tracing
from recog.images import ImagePreprocessor
from recog.lightning_module import CTCRecognitionModule
from recog.recognizer import Recognition, Recognizer, load_backend, pad_batch
from recog.transcribe import main as transcribe
from tests.conftest import save_checkpoint, shared_path
from tests.test_transcribe_audio import TINY_SPEECH_MODEL, noise

TOLERANCE = 1e-4
TINY_IMAGE_MODEL = {"_target_": "recog.model.CTCRecognizer", "channels": [4, 8, 8], "pools": [[2, 2], [2, 2], [2, 1]],
                    "hidden_size": 16, "num_layers": 2, "dropout": 0.0}
MODULE_SETTINGS = {
    "image": {"model": TINY_IMAGE_MODEL, "alphabet": list("abcdefgh .,"),
              "preprocessing": ImagePreprocessor(height=32).to_dict()},
    "audio": {"model": TINY_SPEECH_MODEL, "alphabet": list(ENGLISH_SPEECH_SYMBOLS),
              "preprocessing": AudioPreprocessor(n_mels=40).to_dict(), "normalizer": {"uppercase": True}},
}
WINDOWS = {"window": 400, "context": 80}  # small, so the longest generated input is read in windows


def generated_inputs(modality: str) -> list[torch.Tensor]:
    """Inputs (1, H, W) of very different lengths: the shortest the preprocessor makes, and one read in windows."""
    if modality == "image":
        generator = torch.Generator().manual_seed(2)
        return [torch.rand(1, 32, width, generator=generator) for width in (16, 75, 203, 900)]
    features = AudioPreprocessor(n_mels=40)
    return [features(torch.from_numpy(noise(seconds, 16000, seed))) for seed, seconds in enumerate((0.05, 0.8, 6.0))]


def tiny_module(modality: str) -> CTCRecognitionModule:
    """Freshly initialised, with batch-norm statistics measured on the generated inputs, as training estimates
    them: with the initial ones the signal fades through the conv blocks and every frame decodes alike."""
    torch.manual_seed(0)
    module = CTCRecognitionModule(**MODULE_SETTINGS[modality])
    for layer in module.modules():
        if isinstance(layer, torch.nn.BatchNorm2d):
            layer.momentum = 1.0  # running statistics := those of the next batch
    with torch.no_grad():
        module.train()(*pad_batch(generated_inputs(modality)))
    return module.eval()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[tuple[str, str], Path]:
    """(modality, "checkpoint" or a format) -> the file; every export made by recog-export's main."""
    folder = tmp_path_factory.mktemp("export")
    paths = {}
    for modality in MODULE_SETTINGS:
        checkpoint = save_checkpoint(tiny_module(modality), folder / f"{modality}.ckpt")
        paths[modality, "checkpoint"] = checkpoint
        for file_format in FORMATS:
            assert export([str(checkpoint), "--format", file_format]) == 0
            paths[modality, file_format] = folder / f"{modality}{DEFAULT_SUFFIXES[file_format]}"
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths.values())  # no partial files
    return paths


def max_difference(result: Recognition, reference: Recognition) -> float:
    assert torch.equal(result.output_lengths, reference.output_lengths)
    return max(float((result.sample_log_probs(i) - reference.sample_log_probs(i)).abs().max())
               for i in range(len(reference.texts)))


@pytest.mark.parametrize("file_format", FORMATS)
@pytest.mark.parametrize("modality", MODULE_SETTINGS)
def test_exported_model_gives_the_checkpoints_text_and_log_probs(models, modality, file_format):
    """Batched (padded, and cut in windows) and one by one, against the checkpoint one input at a time."""
    inputs = generated_inputs(modality)
    reference = Recognizer.from_checkpoint(models[modality, "checkpoint"], "cpu", batch_size=1,
                                           **WINDOWS).run_tensors(inputs)
    assert sum(len(text) for text in reference.texts) >= 10  # texts worth comparing
    for batch_size in (16, 1):
        exported = Recognizer.from_checkpoint(models[modality, file_format], "cpu", batch_size=batch_size, **WINDOWS)
        result = exported.run_tensors(inputs)
        assert result.texts == reference.texts
        assert max_difference(result, reference) <= TOLERANCE


@pytest.mark.parametrize("file_format", FORMATS)
def test_exported_model_embeds_the_checkpoints_settings(models, file_format):
    checkpoint = load_backend(models["audio", "checkpoint"], "cpu").info
    exported = load_backend(models["audio", file_format], "cpu").info
    assert exported.alphabet == checkpoint.alphabet
    assert exported.preprocessor == checkpoint.preprocessor == AudioPreprocessor(n_mels=40)
    assert exported.normalizer == checkpoint.normalizer and exported.normalizer("it's") == "IT'S"
    assert (exported.width_stride, exported.min_input_length) == (checkpoint.width_stride, 4) == (4, 4)


@pytest.mark.parametrize("file_format", FORMATS)
def test_exported_model_rejects_an_input_too_short_as_the_checkpoint_does(models, file_format):
    for path in (models["image", "checkpoint"], models["image", file_format]):
        backend = load_backend(path, "cpu")
        with pytest.raises(ConfigError, match="input length 3 is too short: the front end needs at least 4"):
            backend(torch.zeros(2, 1, 32, 10), torch.tensor([10, 3]))


def real_samples(modality: str) -> list[Path]:
    if modality == "image":
        return sorted(shared_path("data", "iam_lines", "lines").rglob("*.png"))[:3]
    return sorted(shared_path("data", "librispeech").rglob("*.flac"))[:2]


@pytest.mark.parametrize("file_format", FORMATS)
@pytest.mark.parametrize("modality", MODULE_SETTINGS)
def test_real_samples_transcribe_alike_from_the_export_and_the_checkpoint(models, modality, file_format, capsys):
    samples = real_samples(modality)
    outputs = []
    for path in (models[modality, "checkpoint"], models[modality, file_format]):
        assert transcribe([str(path), *map(str, samples), "--device", "cpu"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and len(outputs[0].splitlines()) == len(samples)
    reference, exported = (Recognizer.from_checkpoint(models[modality, kind], "cpu") for kind in ("checkpoint",
                                                                                                   file_format))
    inputs = [reference.preprocessor.load(sample) for sample in samples]
    assert max_difference(exported.run_tensors(inputs), reference.run_tensors(inputs)) <= TOLERANCE


def torchscript_without_settings(path: Path) -> None:
    with quiet_tracing():
        torch.jit.save(torch.jit.trace(torch.nn.Identity(), torch.zeros(1)), str(path))


def onnx_without_settings(path: Path) -> None:
    with quiet_tracing():
        torch.onnx.export(torch.nn.ReLU(), (torch.zeros(1),), str(path), dynamo=False)


def truncated_copy(source: Path, path: Path) -> None:
    path.write_bytes(source.read_bytes()[:5000])


@pytest.mark.parametrize("name, make, message", [
    ("garbage.onnx", lambda path, models: path.write_bytes(b"\x08\x07 not protobuf"), "not a readable ONNX model"),
    ("cut.onnx", lambda path, models: truncated_copy(models["image", "onnx"], path), "not a readable ONNX model"),
    ("cut.torchscript.pt", lambda path, models: truncated_copy(models["image", "torchscript"], path),
     "not a recog checkpoint"),
    ("plain.pt", lambda path, models: torchscript_without_settings(path), "holds no recog settings"),
    ("plain.onnx", lambda path, models: onnx_without_settings(path), "holds no recog settings"),
])
def test_a_bad_exported_file_is_one_error_line_and_exit_2(models, tmp_path, capsys, name, make, message):
    make(tmp_path / name, models)
    assert transcribe([str(tmp_path / name), str(tmp_path)]) == 2  # the model fails before any input is read
    error = capsys.readouterr().err
    assert error.startswith(f"error: {tmp_path / name}: ") and message in error and len(error.splitlines()) == 1


def test_export_reports_a_bad_checkpoint_or_output_name(models, tmp_path, capsys):
    (tmp_path / "x.ckpt").write_bytes(b"not a checkpoint")
    assert export([str(tmp_path / "x.ckpt"), "--format", "onnx"]) == 2
    assert "not a recog checkpoint" in capsys.readouterr().err
    assert export([str(models["image", "checkpoint"]), "--format", "onnx", "-o", str(tmp_path / "model.pt")]) == 2
    assert "must end in .onnx" in capsys.readouterr().err
    assert export([str(models["image", "checkpoint"]), "--format", "torchscript", "-o",
                   str(tmp_path / "missing" / "model.pt")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.ckpt"]


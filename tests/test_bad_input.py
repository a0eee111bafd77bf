"""Bad input gets a specific error (file, line, what is wrong) and never a traceback from the console scripts."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
from PIL import Image

from datamodules.iam import IAMFormatError, parse_lines_txt
from datamodules.line_manifest import ManifestFormatError, read_manifest, writer_set
from recog.alphabet import Alphabet, AlphabetError
from recog.errors import ConfigError, DataError, read_utf8_lines
from recog.images import ImagePreprocessor, ImageReadError
from recog.model import CTCRecognizer
from recog.recognizer import choose_device
from recog.errors import RecogError


def test_utf8_reader_names_file_and_line(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_bytes("\ufeffok\nstill ok\ncaf\xe9\n".encode("utf-8")[:-3] + b"\xe9\n")
    with pytest.raises(DataError, match=r"lines.txt:3: not UTF-8"):
        read_utf8_lines(path)
    path.write_bytes("\ufeffa\nb\n".encode("utf-8"))
    assert read_utf8_lines(path) == ["a", "b"]  # byte-order mark dropped
    with pytest.raises(DataError, match="no such file"):
        read_utf8_lines(tmp_path / "missing.txt")


def test_alphabet_file_errors(tmp_path):
    path = tmp_path / "alphabet.txt"
    path.write_text("a\nab\n")
    with pytest.raises(AlphabetError, match=r"alphabet.txt:2: 'ab' is not one character"):
        Alphabet.from_file(path)
    path.write_text("a\nb\na\n")
    with pytest.raises(AlphabetError, match=r"alphabet.txt:3: 'a' already listed on line 1"):
        Alphabet.from_file(path)
    path.write_text("\n\n")
    with pytest.raises(AlphabetError, match="lists no symbols"):
        Alphabet.from_file(path)


def test_iam_rows_with_duplicate_ids_or_empty_boxes(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("a01-000u-00 ok 154 19 408 746 1661 89 A\na01-000u-00 ok 154 19 408 746 1661 89 B\n")
    with pytest.raises(IAMFormatError, match=r"lines.txt:2: line id a01-000u-00 already appears on line 1"):
        parse_lines_txt(path)
    path.write_text("a01-000u-00 ok 154 19 408 746 0 89 A\n")
    with pytest.raises(IAMFormatError, match=r"lines.txt:1: bounding box width/height must be positive"):
        parse_lines_txt(path)


def test_manifest_problems(tmp_path):
    path = tmp_path / "manifest.tsv"
    path.write_text("image,text,writer_id\na.png,hi,w\n")
    with pytest.raises(ManifestFormatError, match="tab-separated"):
        read_manifest(path)
    path.write_text("image\ttext\na.png\thi\na.png\tho\n")
    with pytest.raises(ManifestFormatError, match=r"manifest.tsv:3: image a.png already listed on line 2"):
        read_manifest(path)
    path.write_text("\ufeffimage\ttext\na.png\thi\n\n")  # BOM and a trailing blank line are fine
    assert [s.text for s in read_manifest(path)] == ["hi"]


def test_writer_ids_are_strings():
    assert writer_set([2, "w3"], "val_writers") == {"2", "w3"}
    assert writer_set("w2", "val_writers") == {"w2"}
    with pytest.raises(ConfigError):
        writer_set({"a": 1}, "val_writers")


def test_model_settings_are_checked_with_the_setting_named():
    with pytest.raises(ConfigError, match=r"data.height.*at least 16"):
        CTCRecognizer(num_classes=5, input_height=8)
    with pytest.raises(ConfigError, match="model.num_layers"):
        CTCRecognizer(num_classes=5, input_height=32, num_layers=0)
    with pytest.raises(ConfigError, match="model.cell"):
        CTCRecognizer(num_classes=5, input_height=32, cell="transformer")


def test_unconvertible_and_float_images(tmp_path):
    Image.new("LAB", (20, 10)).save(tmp_path / "lab.tif")
    with pytest.raises(ImageReadError, match=r"lab.tif: cannot convert a LAB image"):
        ImagePreprocessor(height=10).load(tmp_path / "lab.tif")
    Image.fromarray(np.full((10, 20), 0.25, dtype=np.float32)).save(tmp_path / "float.tif")
    tensor = ImagePreprocessor(height=10, autocontrast=False).load(tmp_path / "float.tif")
    assert tensor.mean().item() == pytest.approx(0.75, abs=0.01)  # 0.25 gray is 0.75 ink, not all black


@pytest.mark.parametrize("device", ["nonsense", "meta", "cuda:7"])
def test_unavailable_devices(device):
    if device == "cuda:7" and __import__("torch").cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    with pytest.raises(RecogError, match="device"):
        choose_device(device)


@pytest.mark.parametrize("command, message", [
    (["recog-train", "data=iam", "data.root=/nonexistent"], "ascii/lines.txt"),
    (["recog-train", "data.batch_size=0"], "data.batch_size must be a positive integer"),
    (["recog-eval"], "ckpt_path"),
    (["recog-eval", "ckpt_path=/nonexistent.ckpt"], "no such checkpoint"),
    (["recog-transcribe", "x.ckpt", "x.png", "--batch-size", "0"], "must be a positive integer"),
])
def test_console_scripts_report_user_errors_without_traceback(command, message, tmp_path):
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr

import numpy as np
import pytest
import torch
from PIL import Image

from recog.frontend import ConvFrontEnd
from recog.images import ImagePreprocessor, ImageReadError, load_image


def test_b17_narrow_tiny_and_wide_lines(cases_dir):
    preprocessor = ImagePreprocessor(height=64, min_width=16)
    frontend = ConvFrontEnd(input_height=64, pools=[[2, 2], [2, 2], [2, 1], [2, 1]])  # width / 4
    # rule: width = max(1, round(w * 64 / h)), then padded on the right with paper to min_width = 16
    for name, width, frames in (("B17_narrow_w5_h128.png", 16, 4), ("B17_tiny_1x1.png", 64, 16)):
        image = preprocessor.load(cases_dir / name)
        assert image.shape == (1, 64, width)  # narrow: round(2.5) = 2, padded to 16; tiny: 1 * 64 / 1
        assert image.size(-1) >= frontend.min_input_length
        assert frontend.output_lengths(torch.tensor(image.size(-1))).item() == frames
    wide = preprocessor.load(cases_dir / "B17_wide_w6000_h48.png")
    assert wide.shape == (1, 64, 8000)  # 6000 * 64 / 48: aspect ratio kept
    frames = frontend.output_lengths(torch.tensor(wide.size(-1))).item()
    assert frames == 2000 and frames >= 340


def test_narrow_image_padding_is_paper():
    image = Image.new("L", (3, 30), 0)  # all ink
    tensor = ImagePreprocessor(height=30, min_width=10, autocontrast=False)(image)
    assert tensor[..., :3].min() == 1.0 and tensor[..., 3:].max() == 0.0


def gray_ramp() -> np.ndarray:
    return np.tile(np.linspace(0, 255, 40).astype(np.uint8), (20, 1))


STORABLE = [(mode, suffix) for suffix in (".png", ".tif") for mode in ("L", "RGB", "RGBA", "LA", "P", "I;16", "1")]
STORABLE += [("L", ".jpg"), ("RGB", ".jpg"), ("CMYK", ".jpg"), ("CMYK", ".tif")]


@pytest.mark.parametrize(("mode", "suffix"), STORABLE)
def test_any_pillow_image_gives_the_same_kind_of_tensor(tmp_path, mode, suffix):
    base = Image.fromarray(gray_ramp())
    image = Image.fromarray((gray_ramp().astype(np.uint16) * 257)) if mode == "I;16" else base.convert(mode)
    path = tmp_path / f"line{suffix}"
    image.save(path)
    tensor = ImagePreprocessor(height=20, min_width=4, autocontrast=False).load(path)
    assert tensor.shape == (1, 20, 40) and tensor.dtype == torch.float32
    assert 0.0 <= tensor.min() and tensor.max() <= 1.0
    if mode not in ("1", "P"):  # dithered / quantised modes only keep the ramp roughly
        expected = 1 - torch.from_numpy(gray_ramp()).float() / 255
        assert (tensor[0] - expected).abs().max() < 0.05


def test_transparent_background_becomes_paper(tmp_path):
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)  # transparent black everywhere...
    rgba[4:6, :, 3] = 255  # ...except an opaque black stroke
    Image.fromarray(rgba).save(tmp_path / "t.png")
    tensor = ImagePreprocessor(height=10, min_width=1, autocontrast=False).load(tmp_path / "t.png")
    assert tensor[0, 0].max() == 0.0 and tensor[0, 5].min() == 1.0


def test_sixteen_bit_is_scaled_not_clipped(tmp_path):
    Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16)).save(tmp_path / "g.png")
    tensor = ImagePreprocessor(height=4, min_width=1, autocontrast=False).load(tmp_path / "g.png")
    assert tensor.mean().item() == pytest.approx(0.5, abs=0.01)


def test_unreadable_files_raise_with_path_and_reason(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    good = tmp_path / "good.png"
    Image.new("L", (50, 20), 255).save(good)
    (tmp_path / "truncated.png").write_bytes(good.read_bytes()[:60])
    for name, reason in (("empty.png", "not an image"), ("text.png", "not an image"),
                         ("truncated.png", "unreadable"), ("missing.png", "no such file")):
        with pytest.raises(ImageReadError, match=reason) as error:
            load_image(tmp_path / name)
        assert name in str(error.value)

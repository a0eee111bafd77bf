"""Line image file -> normalised tensor (1, H, W): grayscale, ink = 1, background = 0, fixed height.

Any image Pillow reads is accepted: 1-bit, 8- and 16-bit gray, palette, RGB, CMYK, and images with an
alpha channel (composited on white, the usual meaning of a transparent background for scanned text).
The height is normalised with the aspect ratio kept; images narrower than `min_width` after that are
padded on the right with background (case B17), so even a 1x1 image gives the front end enough columns.
Background being 0 means padding a batch with zeros is the same as padding with paper.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from recog.alignment import FrameGeometry
from recog.errors import InputReadError

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".pgm", ".ppm", ".pbm"})
WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")  # more than 8 bits per pixel


class ImageReadError(InputReadError):
    """An image file that cannot be used, with the file and the reason in the message."""


def load_image(path: str | Path) -> Image.Image:
    """Open and fully decode an image (errors carry the path and the reason)."""
    try:
        with Image.open(path) as image:
            image.load()
            return ImageOps.exif_transpose(image)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise ImageReadError(f"{path}: unreadable image ({error})") from None


def load_grayscale(path: str | Path) -> Image.Image:
    """An image file as 8-bit grayscale; any failure, decoding or converting, names the file."""
    image = load_image(path)
    try:
        return to_grayscale(image)
    except (ValueError, OSError) as error:
        raise ImageReadError(f"{path}: cannot convert a {image.mode} image to grayscale ({error})") from None


def full_scale(mode: str, values: np.ndarray) -> float:
    """The value that means white: 1.0 for float images in [0, 1], 65535 for 16-bit data, else 255,
    raised to the largest value present if the data exceed it."""
    largest = float(values.max()) if values.size else 0.0
    if mode == "F" and largest <= 1.0:
        return 1.0
    nominal = 65535.0 if mode.startswith("I;16") or largest > 255 else 255.0
    return max(nominal, largest)


def to_grayscale(image: Image.Image) -> Image.Image:
    """8-bit grayscale ('L'); transparency becomes white paper; wider data is scaled, not clipped."""
    if image.mode in WIDE_MODES:
        values = np.asarray(image, dtype=np.float64)
        scale = full_scale(image.mode, values) or 1.0
        return Image.fromarray(np.clip(values * 255.0 / scale + 0.5, 0, 255).astype(np.uint8))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        paper = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image.convert("RGBA"))
    return image.convert("L")


@dataclass(frozen=True)
class ImagePreprocessor:
    """Grayscale line image -> float tensor (1, height, width >= min_width), ink 1, paper 0."""

    height: int = 32
    min_width: int = 16
    autocontrast: bool = True

    modality = "image"
    file_suffixes = IMAGE_SUFFIXES
    min_length_setting = "data.min_width"

    @property
    def input_height(self) -> int:
        return self.height

    @property
    def min_length(self) -> int:
        """The narrowest tensor this preprocessor makes, and the setting that controls it."""
        return self.min_width

    def read(self, path: str | Path) -> Image.Image:
        """The file as the model's source: the original image, grayscale (its size places alignments)."""
        return load_grayscale(path)

    def __call__(self, image: Image.Image) -> torch.Tensor:
        gray = to_grayscale(image)
        if self.autocontrast:
            gray = ImageOps.autocontrast(gray, cutoff=(0.5, 2))
        gray = gray.resize((self.scaled_width(*gray.size), self.height), Image.Resampling.BILINEAR)
        ink = 1.0 - torch.from_numpy(np.asarray(gray, dtype=np.float32)) / 255.0  # (H, W)
        missing = self.min_width - ink.size(1)
        if missing > 0:
            ink = torch.nn.functional.pad(ink, (0, missing))
        return ink.unsqueeze(0)

    def scaled_width(self, width: int, height: int) -> int:
        """Width after height normalisation, aspect ratio kept (at least 1 column)."""
        return max(1, round(width * self.height / height))

    def load(self, path: str | Path) -> torch.Tensor:
        return self(self.read(path))

    def frame_geometry(self, image: Image.Image, width_stride: int) -> FrameGeometry:
        """Output frames of a model with this horizontal stride, in pixels of the original image."""
        return FrameGeometry.for_image(width_stride, image.size, self.height)

    def picture(self, image: Image.Image) -> tuple[np.ndarray, str]:
        """What a plot shows of the source: the original image (rows, columns) and its colour map."""
        return np.asarray(image), "gray"

    def input_format(self) -> dict:
        """What a model trained on this preprocessing needs its inputs to be (fine-tuning must keep it)."""
        return {"modality": self.modality, "height": self.height}

    def to_dict(self) -> dict:
        return {"modality": self.modality, **asdict(self)}

    @classmethod
    def from_dict(cls, settings: dict) -> "ImagePreprocessor":
        return cls(**{k: v for k, v in settings.items() if k != "modality"})

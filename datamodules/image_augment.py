"""Random distortions of a grayscale line image (dark ink on white), for the training split only.

Each one imitates a way real handwriting varies: slant (shear), a skewed baseline (small rotation),
letter width (horizontal scale), pen width (stroke thickness), focus (blur) and scanner noise. The
random generator is passed in, so a sample's distortion is reproducible from (seed, epoch, index).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

PAPER = 255


@dataclass(frozen=True)
class ImageAugmenter:
    shear: float = 0.3  # max |horizontal shift per row|, relative: 0.3 ~ 17 degrees of slant
    rotate_degrees: float = 1.5
    scale: float = 0.15  # horizontal stretch in [1 - scale, 1 + scale]
    thickness_probability: float = 0.3
    blur_probability: float = 0.2
    noise_std: float = 6.0  # gray levels, drawn in [0, noise_std]

    def __call__(self, image: Image.Image, rng: random.Random) -> Image.Image:
        """image: mode 'L' -> distorted image, mode 'L' (size may change)."""
        image = self.apply_shear(image, rng.uniform(-self.shear, self.shear))
        image = image.rotate(rng.uniform(-self.rotate_degrees, self.rotate_degrees),
                             resample=Image.Resampling.BILINEAR, expand=True, fillcolor=PAPER)
        stretch = rng.uniform(1 - self.scale, 1 + self.scale)
        image = image.resize((max(1, round(image.width * stretch)), image.height), Image.Resampling.BILINEAR)
        if rng.random() < self.thickness_probability:
            # MinFilter spreads dark ink (thicker pen), MaxFilter spreads paper (thinner pen).
            image = image.filter(ImageFilter.MinFilter(3) if rng.random() < 0.5 else ImageFilter.MaxFilter(3))
        if rng.random() < self.blur_probability:
            image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
        return self.add_noise(image, rng.uniform(0, self.noise_std), rng.randrange(2**32))

    @staticmethod
    def apply_shear(image: Image.Image, shear: float) -> Image.Image:
        """Shift row y by shear * (y - height / 2) pixels, widening the image to keep every pixel."""
        extra = int(abs(shear) * image.height + 0.5)
        width = image.width + extra
        # Image.transform maps output (x, y) to input (a x + b y + c, d x + e y + f).
        offset = -extra / 2 - (-shear * image.height / 2)
        return image.transform((width, image.height), Image.Transform.AFFINE,
                               (1, -shear, offset, 0, 1, 0), resample=Image.Resampling.BILINEAR,
                               fillcolor=PAPER)

    @staticmethod
    def add_noise(image: Image.Image, std: float, seed: int) -> Image.Image:
        if std <= 0:
            return image
        pixels = np.asarray(image, dtype=np.float32)
        pixels = pixels + np.random.default_rng(seed).normal(0.0, std, pixels.shape)
        return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))

"""Synthetic handwriting-like text lines written in the original IAM layout.

This is the project's built-in default dataset: the IAM reader trains on it
unchanged. Text comes from `synthetic_text`; each line is drawn character by
character with one of matplotlib's bundled fonts and then distorted (slant,
rotation, baseline and spacing jitter, a vertical wave, stroke width, blur,
ink and paper gray levels, noise). Everything about line `i` derives from
`(seed, i)` alone, so the output is byte-for-byte reproducible and the lines
could be generated in any order or in parallel.
"""

from __future__ import annotations

import math
import random
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from datamodules.cache import build_once, is_complete
from datamodules.synthetic_text import generate_text_line
from recog.errors import ConfigError

# Bump when the generated data changes, so that old datasets are not reused.
GENERATOR_VERSION = 1

FONT_NAMES = (
    "DejaVuSans", "DejaVuSans-Oblique", "DejaVuSans-Bold", "DejaVuSans-BoldOblique",
    "DejaVuSerif", "DejaVuSerif-Italic", "DejaVuSerif-Bold", "DejaVuSerif-BoldItalic",
    "DejaVuSansMono", "DejaVuSansMono-Oblique",
    "STIXGeneral", "STIXGeneralItalic", "STIXGeneralBol", "STIXGeneralBolIta",
)
FORMS_PER_PREFIX = 1000
MAX_PREFIXES = 100
MAX_LINES_PER_FORM = 100
INK_THRESHOLD = 24  # ink coverage (0-255) above which a pixel counts as content
_INK_MASK_TABLE = [255 * (coverage > INK_THRESHOLD) for coverage in range(256)]

LINES_HEADER = """\
#--- lines.txt ---------------------------------------------------------------#
#
# synthetic line information, in the format of the IAM database's lines.txt
#
# format: s00-0003-07 ok 127 14 0 0 612 48 The|cat,|3|times.
#
#     s00-0003-07  -> line 07 of form s00-0003; the image is
#                     lines/s00/s00-0003/s00-0003-07.png
#     ok           -> result of word segmentation (always ok here)
#     127          -> graylevel to binarize the line (between ink and paper)
#     14           -> number of components (here: non-space characters)
#     0 0 612 48   -> bounding box of the line in x,y,w,h format; x and y
#                     are 0 and w h is the size of the line image
#     The|cat,|3|times. -> transcription of the line; word tokens are
#                     separated by the character |, which never occurs in
#                     the text itself
#
"""


@dataclass(frozen=True)
class SyntheticLine:
    text: str
    image: Image.Image  # mode 'L', dark ink on light paper
    graylevel: int  # binarisation threshold between ink and paper, as in IAM


def generate_iam_layout(root: str | Path, num_lines: int = 5000, seed: int = 0,
                        val_fraction: float = 0.1, test_fraction: float = 0.1,
                        lines_per_form: int = 10, text_height: int = 40) -> Path:
    """Write the dataset under root, or return at once if root already holds it with the same parameters
    (published atomically: see datamodules/cache.py)."""
    parameters = {
        "generator_version": GENERATOR_VERSION, "num_lines": num_lines, "seed": seed,
        "val_fraction": val_fraction, "test_fraction": test_fraction,
        "lines_per_form": lines_per_form, "text_height": text_height,
    }
    if is_complete(Path(root), parameters):
        return Path(root)
    _check_parameters(parameters)
    return build_once(root, parameters, lambda folder: _write_dataset(folder, parameters))


def synthesize_line(seed: int, index: int, text_height: int = 40) -> SyntheticLine:
    """Text and image of line `index` of the dataset generated with `seed`."""
    text_seed, render_seed = np.random.SeedSequence([seed, index]).generate_state(2)
    text = generate_text_line(random.Random(int(text_seed)))
    image, graylevel = render_line(text, random.Random(int(render_seed)),
                                   np.random.default_rng(int(render_seed)), text_height)
    return SyntheticLine(text, image, graylevel)


def render_line(text: str, rng: random.Random, noise_rng: np.random.Generator,
                text_height: int = 40) -> tuple[Image.Image, int]:
    """Draw `text` handwriting-like; return the 'L' image and its binarisation gray level."""
    font_path = rng.choice(available_fonts())
    font = _load_font(str(font_path), round(text_height * rng.uniform(0.9, 1.3)))
    ink = _crop_to_ink(_draw_characters(text, font, rng), padding=2)
    ink = _change_stroke_width(ink, font, rng)
    ink = _distort(ink, _random_distortion(font, rng))
    ink = _crop_with_margins(ink, rng)
    if rng.random() < 0.3:
        ink = ink.filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 1.0)))
    return _put_on_paper(ink, rng, noise_rng)


@lru_cache(maxsize=1)
def available_fonts() -> tuple[Path, ...]:
    """The fonts of FONT_NAMES that this matplotlib installation bundles."""
    import matplotlib  # only needed for the location of its bundled fonts

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    fonts = tuple(folder / f"{name}.ttf" for name in FONT_NAMES
                  if (folder / f"{name}.ttf").is_file())
    if not fonts:
        raise FileNotFoundError(
            f"none of the fonts {', '.join(FONT_NAMES)} found in {folder}; "
            "the synthetic dataset needs matplotlib's bundled TrueType fonts")
    return fonts


@lru_cache(maxsize=None)
def _load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    # The basic layout engine does not depend on whether libraqm is installed.
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)


def _draw_characters(text: str, font: ImageFont.FreeTypeFont, rng: random.Random) -> Image.Image:
    """Ink coverage (255 = ink) of `text`, one character at a time with jitter."""
    size = font.size
    ascent, descent = font.getmetrics()
    pad = size  # room for the baseline jitter
    advances = [_advance(font, character) for character in text]
    width = math.ceil(sum(advances) * 1.6) + 2 * pad
    canvas = Image.new("L", (width, ascent + descent + 2 * pad), 0)
    x, baseline = float(pad), float(pad + ascent)
    for character, advance in zip(text, advances):
        if character == " ":
            x += advance * rng.uniform(0.9, 1.6)
            continue
        y = baseline + rng.uniform(-0.04, 0.04) * size
        glyph, (left, top) = _glyph(font, character)
        canvas.paste(255, (round(x) + left, round(y) + top), glyph)
        x += advance + rng.uniform(-0.02, 0.05) * size
    return canvas


@lru_cache(maxsize=None)
def _advance(font: ImageFont.FreeTypeFont, character: str) -> float:
    return font.getlength(character)


@lru_cache(maxsize=None)
def _glyph(font: ImageFont.FreeTypeFont, character: str) -> tuple[Image.Image, tuple[int, int]]:
    """Coverage bitmap of a character and its offset from the pen position on the baseline.

    Pasting cached bitmaps is several times faster than drawing text per character.
    """
    left, top, right, bottom = font.getbbox(character, anchor="ls")
    glyph = Image.new("L", (max(1, right - left), max(1, bottom - top)), 0)
    ImageDraw.Draw(glyph).text((-left, -top), character, fill=255, font=font, anchor="ls")
    return glyph, (left, top)


def _change_stroke_width(ink: Image.Image, font: ImageFont.FreeTypeFont,
                         rng: random.Random) -> Image.Image:
    """Thicken some lines; thin some bold ones (thin regular strokes would vanish)."""
    roll = rng.random()
    if font.size < 24 or roll > 0.35:
        return ink
    if roll < 0.2:
        return ink.filter(ImageFilter.MaxFilter(3))
    is_bold = "Bol" in Path(font.path).name
    return ink.filter(ImageFilter.MinFilter(3)) if is_bold else ink


def _shear(font: ImageFont.FreeTypeFont, rng: random.Random) -> float:
    """A shear in -0.35..0.35, leaning italic fonts less far right (they lean already)."""
    is_italic = any(mark in Path(font.path).name for mark in ("Oblique", "Ita"))
    return rng.uniform(-0.35, 0.15 if is_italic else 0.35)


@dataclass(frozen=True)
class _Distortion:
    """Slant, then a vertical sine wave along the line, then a rotation."""

    shear: float  # positive leans right
    amplitude: float  # of the wave, px
    wavelength: float  # px
    phase: float
    angle: float  # degrees, counter-clockwise


def _random_distortion(font: ImageFont.FreeTypeFont, rng: random.Random) -> _Distortion:
    return _Distortion(shear=_shear(font, rng),
                       amplitude=rng.uniform(0.0, 0.08) * font.size,
                       wavelength=rng.uniform(4.0, 12.0) * font.size,
                       phase=rng.uniform(0.0, 2 * math.pi),
                       angle=rng.triangular(-2.0, 2.0, 0.0))


def _distort(ink: Image.Image, distortion: _Distortion) -> Image.Image:
    """Apply `distortion` in one mesh transform, much faster than three passes.

    The output is cut into narrow full-height strips; each strip's corners are
    mapped back into `ink` exactly, and Pillow interpolates in between: exact
    for slant and rotation, a close piecewise-linear fit of the wave.
    """
    width, height = ink.size
    shear, angle = distortion.shear, math.radians(distortion.angle)
    slanted_width = width + abs(shear) * height
    waved_height = height + 2 * distortion.amplitude
    cos, sin = math.cos(angle), math.sin(angle)
    out_width = math.ceil(abs(cos) * slanted_width + abs(sin) * waved_height)
    out_height = math.ceil(abs(sin) * slanted_width + abs(cos) * waved_height)
    # Strips of 1/12 wavelength keep the piecewise-linear wave within 4 % of its amplitude.
    strip_width = max(8, round(distortion.wavelength / 12))
    edges = np.append(np.arange(0, out_width, strip_width), out_width)
    # Undo the rotation about the image centres ...
    u = np.concatenate([edges, edges]) - out_width / 2
    v = np.repeat([0.0, out_height], len(edges)) - out_height / 2
    x = cos * u - sin * v + slanted_width / 2
    y = sin * u + cos * v + waved_height / 2
    # ... then the wave, then the slant.
    y -= distortion.amplitude + distortion.amplitude * np.sin(
        2 * math.pi * x / distortion.wavelength + distortion.phase)
    x += shear * y - max(shear, 0.0) * height
    top = list(zip(x[:len(edges)], y[:len(edges)]))
    bottom = list(zip(x[len(edges):], y[len(edges):]))
    mesh = [((int(edges[i]), 0, int(edges[i + 1]), out_height),
             (*top[i], *bottom[i], *bottom[i + 1], *top[i + 1]))
            for i in range(len(edges) - 1)]
    return ink.transform((out_width, out_height), Image.MESH, mesh,
                         resample=Image.BILINEAR, fillcolor=0)


def _crop_to_ink(ink: Image.Image, padding: int) -> Image.Image:
    """Crop to the pixels with ink plus `padding` px (cropping beyond the edge pads with 0)."""
    left, top, right, bottom = ink.point(_INK_MASK_TABLE).getbbox()
    return ink.crop((left - padding, top - padding, right + padding, bottom + padding))


def _crop_with_margins(ink: Image.Image, rng: random.Random) -> Image.Image:
    """Crop to the ink and add a random 2-12 px margin on each side."""
    content = _crop_to_ink(ink, padding=0)
    left, top, right, bottom = (rng.randint(2, 12) for _ in range(4))
    framed = Image.new("L", (content.width + left + right, content.height + top + bottom), 0)
    framed.paste(content, (left, top))
    return framed


def _put_on_paper(ink: Image.Image, rng: random.Random,
                  noise_rng: np.random.Generator) -> tuple[Image.Image, int]:
    """Map ink coverage to gray levels between the paper's and the ink's, add noise."""
    paper_level = rng.uniform(210.0, 255.0)
    ink_level = rng.uniform(0.0, 90.0)
    levels = paper_level - (paper_level - ink_level) * np.arange(256) / 255
    image = ink.point(np.rint(levels).astype(np.uint8).tolist())
    if rng.random() < 0.5:  # noisy images compress badly, so only half get noise
        noise = rng.uniform(1.0, 5.0) * noise_rng.standard_normal(image.size[::-1], dtype=np.float32)
        noisy = np.clip(np.rint(np.asarray(image, dtype=np.float32) + noise), 0, 255)
        image = Image.fromarray(noisy.astype(np.uint8), mode="L")
    return image, round((paper_level + ink_level) / 2)


def _check_parameters(parameters: dict) -> None:
    num_lines, per_form = parameters["num_lines"], parameters["lines_per_form"]
    if num_lines < 1 or parameters["text_height"] < 8:
        raise ConfigError("num_lines must be >= 1 and text_height >= 8")
    if not 1 <= per_form <= MAX_LINES_PER_FORM:
        raise ConfigError(f"lines_per_form must be within 1..{MAX_LINES_PER_FORM}")
    if math.ceil(num_lines / per_form) > FORMS_PER_PREFIX * MAX_PREFIXES:
        raise ConfigError(f"at most {FORMS_PER_PREFIX * MAX_PREFIXES} forms are possible")
    fractions = parameters["val_fraction"], parameters["test_fraction"]
    if min(fractions) < 0 or sum(fractions) >= 1:
        raise ConfigError("val_fraction and test_fraction must be >= 0 and sum to < 1")
    num_forms = math.ceil(num_lines / per_form)
    if sum(_split_size(num_forms, fraction) for fraction in fractions) >= num_forms:
        raise ConfigError(f"{num_forms} forms are too few for a train, val and test split; "
                         "raise data.num_lines")


def _write_dataset(folder: Path, parameters: dict) -> None:
    num_lines, per_form = parameters["num_lines"], parameters["lines_per_form"]
    rows = []
    for index in range(num_lines):
        form_id = _form_id(index // per_form)
        line_id = f"{form_id}-{index % per_form:02d}"
        line = synthesize_line(parameters["seed"], index, parameters["text_height"])
        image_path = folder / "lines" / form_id[:3] / form_id / f"{line_id}.png"
        image_path.parent.mkdir(parents=True, exist_ok=True)
        line.image.save(image_path, format="PNG", compress_level=1)  # 2x faster, 10 % larger
        rows.append(_lines_row(line_id, line))
        _report_progress(index + 1, num_lines)
    (folder / "ascii").mkdir()
    (folder / "ascii" / "lines.txt").write_text(LINES_HEADER + "".join(rows), encoding="utf-8")
    form_ids = [_form_id(form) for form in range(math.ceil(num_lines / per_form))]
    _write_splits(folder / "splits", form_ids, parameters)


def _form_id(form_index: int) -> str:
    prefix, number = divmod(form_index, FORMS_PER_PREFIX)
    return f"s{prefix:02d}-{number:04d}"


def _lines_row(line_id: str, line: SyntheticLine) -> str:
    width, height = line.image.size
    components = sum(not character.isspace() for character in line.text)
    words = "|".join(line.text.split(" "))
    return f"{line_id} ok {line.graylevel} {components} 0 0 {width} {height} {words}\n"


def _write_splits(folder: Path, form_ids: list[str], parameters: dict) -> None:
    """Shuffle the forms with the seed and cut them into test, val and train."""
    shuffled = list(form_ids)
    random.Random(f"splits-{parameters['seed']}").shuffle(shuffled)
    num_test = _split_size(len(shuffled), parameters["test_fraction"])
    num_val = _split_size(len(shuffled), parameters["val_fraction"])
    splits = {"test": shuffled[:num_test], "val": shuffled[num_test:num_test + num_val],
              "train": shuffled[num_test + num_val:]}
    folder.mkdir()
    for name, members in splits.items():
        (folder / f"{name}.lst").write_text("".join(f"{form}\n" for form in sorted(members)))


def _split_size(num_forms: int, fraction: float) -> int:
    """round(num_forms * fraction), but at least one form for a non-zero fraction."""
    return max(1, round(num_forms * fraction)) if fraction > 0 else 0


def _report_progress(done: int, total: int) -> None:
    if done % max(1, total // 10) == 0 or done == total:
        print(f"synthetic lines: {done}/{total}", file=sys.stderr, flush=True)

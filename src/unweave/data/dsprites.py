"""dSprites (Matthey et al. 2017): 737,280 binary 64x64 images of one white shape on black.

The published grid, in the published order (the last factor varies fastest):

| factor | size | values |
|---|---|---|
| ``color`` | 1 | 1 (white) |
| ``shape`` | 3 | 1, 2, 3: square, ellipse, heart |
| ``scale`` | 6 | ``linspace(0.5, 1, 6)`` |
| ``orientation`` | 40 | ``linspace(0, 2 pi, 40)`` radians (0 and 2 pi give the same image) |
| ``posX`` | 32 | ``linspace(0, 1, 32)`` |
| ``posY`` | 32 | ``linspace(0, 1, 32)`` |

:func:`load_dsprites_npz` reads the original file; :func:`render_dsprites` draws the same
grid with our own code, so that no download is needed. The drawing:

- every shape is centred on its centroid, which sits on a pixel centre, and rotates about it;
  at orientation 0 the square is axis-aligned, the ellipse's long axis is horizontal and the
  heart stands upright (two lobes up, point down, mirror-symmetric about the vertical);
  a larger orientation turns the shape counter-clockwise on screen (the square looks the
  same after a quarter turn and the ellipse after a half turn, so some orientations of
  those two give equal images, as their symmetry implies in the original too);
- at scale 1 the square's side is ``SIZE`` = 20.6 px, the ellipse's axes are 20.6 x 10.3 px
  and the heart (the curve ``(x^2 + y^2 - 1)^3 = x^2 y^3``) is 20.6 px wide; the size was
  chosen so that the mean pixel value of the set is about 0.043, the mean public loaders
  normalise dSprites with;
- posX and posY move the centre one pixel a step (our reading of the original's "smallest
  step changes while ensuring that all pixel outputs were different"), over columns / rows
  16 to 47, so that the largest shape stays inside the image; posY grows downwards;
- a pixel is white when its centre lies inside the shape (no anti-aliasing, as the
  original's binary images).

Known to differ from the original file, whose generator is not public: the exact outline and
proportions of the shapes (the ellipse's aspect ratio, the heart's curve), their absolute
size, the span of the positions, the pixel rule at the boundary, and the direction in which
orientation turns and posY moves are our choices; only the factor grid, the order, the image size and the binary
pixels are published facts. Rendered and original images are therefore not pixel-equal.

Images are cached (see :mod:`unweave.data.cache`) as one uint8 ``(N, 1, 64, 64)`` memmap with
pixels 0 or 255 (the original file's 0/1 pixels are scaled by 255 when it is read). Each
(shape, scale, orientation) is rasterised once and shifted to its 32 x 32 positions, so the
whole set renders in under a minute on one core.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import numpy as np

from unweave.data.cache import file_fingerprint
from unweave.data.ground_truth import (
    GroundTruthImages,
    as_split,
    cached_images,
    check_factors,
    check_stored_array,
    grid_factors,
    rendered_grid,
)
from unweave.errors import UnweaveError

FACTOR_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (1, 3, 6, 40, 32, 32)
FACTOR_VALUES = {
    "color": np.array([1.0]),
    "shape": np.array([1.0, 2.0, 3.0]),
    "scale": np.linspace(0.5, 1.0, 6),
    "orientation": np.linspace(0.0, 2 * np.pi, 40),
    "posX": np.linspace(0.0, 1.0, 32),
    "posY": np.linspace(0.0, 1.0, 32),
}
SHAPES = ("square", "ellipse", "heart")
NPZ_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
IMAGE = 64
SIZE = 20.6  # side of the square at scale 1, in pixels
PATCH = 33  # odd side of the square patch each shape is drawn in, centred on a pixel
FIRST = 16  # column (row) of the centre pixel at posX (posY) 0; the last is FIRST + 31
ELLIPSE_AXES = (1.0, 0.5)  # half-axes in units of SIZE / 2
HEART_HALF_WIDTH = 1.1389  # of the curve (x^2 + y^2 - 1)^3 = x^2 y^3
HEART_CENTROID_Y = 0.2935  # of the region that curve encloses
CACHE_VERSION = 1
BLOCK = 8192  # images rendered or read per step


def shape_masks(shape: np.ndarray, scale: np.ndarray, orientation: np.ndarray) -> np.ndarray:
    """``(m, PATCH, PATCH)`` bool masks of ``m`` shapes given by factor indices ``(m,)`` each.

    The shape's centroid is the patch's centre pixel; row 0 is the top.
    """
    offsets = np.arange(PATCH, dtype=np.float64) - PATCH // 2
    right = offsets[None, None, :]
    up = -offsets[None, :, None]
    angle = FACTOR_VALUES["orientation"][orientation][:, None, None]
    unit = SIZE / 2 * FACTOR_VALUES["scale"][scale][:, None, None]  # half the square's side
    u = (np.cos(angle) * right + np.sin(angle) * up) / unit  # turned back into the shape frame
    v = (-np.sin(angle) * right + np.cos(angle) * up) / unit
    square = np.maximum(np.abs(u), np.abs(v)) <= 1
    ellipse = (u / ELLIPSE_AXES[0]) ** 2 + (v / ELLIPSE_AXES[1]) ** 2 <= 1
    x, y = u * HEART_HALF_WIDTH, v * HEART_HALF_WIDTH + HEART_CENTROID_Y
    heart = (x**2 + y**2 - 1) ** 3 - x**2 * y**3 <= 0
    return np.choose(shape[:, None, None], (square, ellipse, heart))


def render_images(factors: np.ndarray) -> np.ndarray:
    """uint8 ``(n, 1, 64, 64)`` images, pixels 0 or 255, of ``(n, 6)`` factor indices.

    Each distinct (shape, scale, orientation) is rasterised once, then shifted into place.
    """
    factors = check_factors(factors, FACTOR_NAMES, FACTOR_SIZES, "dsprites")
    kinds, which = np.unique(factors[:, 1:4], axis=0, return_inverse=True)
    patches = shape_masks(*kinds.T).astype(np.uint8) * np.uint8(255)
    steps = len(FACTOR_VALUES["posX"]) - 1
    column = np.rint(FACTOR_VALUES["posX"][factors[:, 4]] * steps).astype(np.int64)
    row = np.rint(FACTOR_VALUES["posY"][factors[:, 5]] * steps).astype(np.int64)
    span = np.arange(PATCH)
    top_left = FIRST - PATCH // 2
    images = np.zeros((len(factors), IMAGE, IMAGE), np.uint8)
    images[
        np.arange(len(factors))[:, None, None],
        (top_left + row[:, None] + span)[:, :, None],
        (top_left + column[:, None] + span)[:, None, :],
    ] = patches[which.reshape(-1)]
    return images[:, None]


def render_dsprites() -> GroundTruthImages:
    """The whole grid drawn by :func:`render_images`, built once (under a minute) and cached."""
    params = {"version": CACHE_VERSION, "sizes": list(FACTOR_SIZES), "size": SIZE}
    x = rendered_grid(
        "dsprites", params, FACTOR_SIZES, 1, render_images, BLOCK, "Rendering dSprites"
    )
    return GroundTruthImages.on_grid(
        x, "dsprites", FACTOR_VALUES, FACTOR_SIZES, {"shape": list(SHAPES)}, "rendered"
    )


def _read_header(stream: IO[bytes], key: str, path: Path) -> tuple[tuple, np.dtype]:
    """Shape and dtype from the header of a C-order .npy stream, which is left at the data."""
    try:
        version = np.lib.format.read_magic(stream)
        read = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, fortran, dtype = read(stream)
    except ValueError:
        raise UnweaveError(
            f"{path}: key '{key}' is not a .npy array; expected the dSprites file {NPZ_NAME}."
        ) from None
    if fortran:
        raise UnweaveError(f"{path}: key '{key}' is in Fortran order; expected C order.")
    return shape, dtype


def _image_blocks(path: Path) -> Iterator[np.ndarray]:
    """The ``imgs`` of an npz as uint8 ``(n, 1, 64, 64)`` blocks, 0/1 pixels scaled to 0/255."""
    n = int(np.prod(FACTOR_SIZES))
    with zipfile.ZipFile(path) as archive, archive.open("imgs.npy") as stream:
        _read_header(stream, "imgs", path)
        for start in range(0, n, BLOCK):
            count = min(BLOCK, n - start)
            block = np.frombuffer(stream.read(count * IMAGE * IMAGE), np.uint8)
            if block.size != count * IMAGE * IMAGE:
                raise UnweaveError(
                    f"{path}: key 'imgs' ends inside image {start + block.size // IMAGE**2}; "
                    f"expected {n} images (is the file truncated?)."
                )
            if block.max(initial=0) > 1:
                raise UnweaveError(
                    f"{path}: key 'imgs' has pixel value {block.max()} in images {start} to "
                    f"{start + count - 1}; expected 0 or 1."
                )
            yield (block * np.uint8(255)).reshape(count, 1, IMAGE, IMAGE)


def load_dsprites_npz(path: str | Path) -> GroundTruthImages:
    """The original ``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` as ground-truth images.

    Keys ``imgs`` ``(737280, 64, 64)`` uint8 0/1, ``latents_classes`` ``(737280, 6)`` int in
    the published order and ``latents_values`` ``(737280, 6)`` float; the images are copied
    once into the cache as a uint8 0/255 memmap ``(737280, 1, 64, 64)``.
    """
    path = Path(path)
    if not path.is_file():
        raise UnweaveError(f"{path}: file not found; expected the dSprites file {NPZ_NAME}.")
    if not zipfile.is_zipfile(path):
        raise UnweaveError(f"{path}: not an .npz archive; expected the dSprites file {NPZ_NAME}.")
    n = int(np.prod(FACTOR_SIZES))
    expected = {
        "imgs": ((n, IMAGE, IMAGE), "uint8"),
        "latents_classes": ((n, len(FACTOR_SIZES)), "integer"),
        "latents_values": ((n, len(FACTOR_SIZES)), "floating"),
    }
    with zipfile.ZipFile(path) as archive:
        members = set(archive.namelist())
        for key, (shape, kind) in expected.items():
            if f"{key}.npy" not in members:
                raise UnweaveError(
                    f"{path}: no key '{key}'; expected '{key}' of shape {shape} ({kind})."
                )
            with archive.open(f"{key}.npy") as stream:
                got, dtype = _read_header(stream, key, path)
            check_stored_array(path, f"key '{key}'", got, dtype, shape, kind)
    with np.load(path) as data:
        classes = data["latents_classes"]
    rows = np.flatnonzero((classes != grid_factors(FACTOR_SIZES)).any(axis=1))
    if len(rows):
        raise UnweaveError(
            f"{path}: key 'latents_classes' has {classes[rows[0]].tolist()} in row {rows[0]}; "
            "expected the published order (posY fastest, then posX, orientation, scale, shape)."
        )
    params = {
        "version": CACHE_VERSION,
        "file": file_fingerprint(path),
        "sizes": list(FACTOR_SIZES),
    }
    x = cached_images(
        "dsprites-npz",
        params,
        (n, 1, IMAGE, IMAGE),
        lambda: _image_blocks(path),
        "Reading dSprites",
    )
    return GroundTruthImages.on_grid(
        x, "dsprites", FACTOR_VALUES, FACTOR_SIZES, {"shape": list(SHAPES)}, str(path)
    )


def load_dsprites(root: str | Path | None = None, split: str = "train") -> GroundTruthImages:
    """dSprites with its five varying factors (shape, scale, orientation, posX, posY; the
    single colour dropped, as disentanglement_lib does): the original file when ``root`` is
    given, else our rendering.

    ``root`` is the npz file itself or a folder holding ``NPZ_NAME``; ``split`` as in
    :func:`~unweave.data.ground_truth.as_split`.
    """
    if root is None:
        return as_split(render_dsprites().varying(), split)
    root = Path(root)
    return as_split(load_dsprites_npz(root / NPZ_NAME if root.is_dir() else root).varying(), split)

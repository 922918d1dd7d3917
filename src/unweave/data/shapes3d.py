"""3DShapes (Burgess & Kim 2018): 480,000 RGB 64x64 images of an object in a room corner.

The published grid, in the published order (the last factor varies fastest):

| factor | size | values |
|---|---|---|
| ``floor_hue`` | 10 | ``linspace(0, 1, 10, endpoint=False)`` |
| ``wall_hue`` | 10 | the same |
| ``object_hue`` | 10 | the same |
| ``scale`` | 8 | ``linspace(0.75, 1.25, 8)`` |
| ``shape`` | 4 | 0, 1, 2, 3: cube, cylinder, sphere, capsule |
| ``orientation`` | 15 | ``linspace(-30, 30, 15)`` degrees |

:func:`load_shapes3d_h5` reads the original ``3dshapes.h5`` (needs ``h5py``);
:func:`render_shapes3d` draws the same grid with our own small ray caster, so that no
download is needed. The scene: a floor and two walls meeting in a vertical corner behind the
object, lit by one directional light plus ambient light (Lambert shading), seen in
perspective by a camera that circles the object by ``orientation`` degrees, so the object
turns and the corner moves sideways (from the left third of the image at -30 to the right
third at 30; at 0 it is behind the object). Floor, walls and object have the colour
``hsv(hue, SATURATION, 1)`` times their shading; the two walls share the wall hue and differ
in shading. The object stands on the floor in the middle: a cube, an upright cylinder and a
sphere of height ``2 * scale`` and a capsule of the same height lying along one horizontal
axis. Each pixel averages 3 x 3 rays (anti-aliasing).

Known to differ from the original, which was rendered by DeepMind with a full 3-D engine:
the camera, field of view, light, room and object proportions are our choices, and there are
no shadows, reflections or specular highlights. Whether the original capsule lies or stands
is not stated in its description; here it lies, so that orientation turns it visibly. Which
way a positive orientation turns is our choice too. The factor grid, the order, the image
size and the meaning of each factor match; the images are not pixel-equal.

The whole set renders in about a minute on one core (the shaded coverage of floor, walls
and object in every pixel is ray-cast once for each of the 480 (orientation, shape, scale)
triples; an image is those three maps times the three hue colours).

Images are cached (see :mod:`unweave.data.cache`) as one uint8 ``(N, 3, 64, 64)`` memmap.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from matplotlib.colors import hsv_to_rgb

from unweave.data.cache import file_fingerprint
from unweave.data.ground_truth import (
    GroundTruthImages,
    as_split,
    cached_images,
    check_factors,
    check_stored_array,
    factor_indices,
    grid_factors,
    rendered_grid,
)
from unweave.errors import UnweaveError
from unweave.extras import require

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
HUES = np.linspace(0.0, 1.0, 10, endpoint=False)
FACTOR_VALUES = {
    "floor_hue": HUES,
    "wall_hue": HUES,
    "object_hue": HUES,
    "scale": np.linspace(0.75, 1.25, 8),
    "shape": np.arange(4.0),
    "orientation": np.linspace(-30.0, 30.0, 15),
}
SHAPES = ("cube", "cylinder", "sphere", "capsule")
SATURATION = 0.85
HUE_RGB = hsv_to_rgb(  # (10, 3) float32 full-brightness colour of each hue
    np.stack([HUES, np.full(len(HUES), SATURATION), np.ones(len(HUES))], axis=1)
).astype(np.float32)
H5_NAME = "3dshapes.h5"
IMAGE = 64
SUPERSAMPLE = 3  # rays per pixel along each axis
CAMERA_DISTANCE = 10.0  # from the object's axis, horizontally
CAMERA_HEIGHT = 4.5
TARGET_HEIGHT = 1.4  # the camera looks at this point above the object's foot
FIELD_OF_VIEW = 40.0  # degrees, vertical and horizontal
CORNER_DISTANCE = 6.0  # from the object's axis to the walls' corner, straight behind it
LIGHT = (-0.5, 1.0, 0.8)  # direction towards the light, world coordinates (y up)
AMBIENT = 0.35
CAPSULE_HALF_LENGTH = 0.8  # of the capsule's straight part, in units of its radius
CACHE_VERSION = 1
BLOCK = 1920  # images rendered or read per step (4 x 480: whole runs of one hue triple)


def _camera_rays(orientation: float) -> tuple[np.ndarray, np.ndarray]:
    """Origin ``(3,)`` and unit directions ``(64 * s, 64 * s, 3)`` of the camera's rays."""
    turn = np.deg2rad(orientation)
    origin = np.array(
        [CAMERA_DISTANCE * np.sin(turn), CAMERA_HEIGHT, CAMERA_DISTANCE * np.cos(turn)]
    )
    forward = np.array([0.0, TARGET_HEIGHT, 0.0]) - origin
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    n = IMAGE * SUPERSAMPLE
    spread = np.tan(np.deg2rad(FIELD_OF_VIEW) / 2) * ((np.arange(n) + 0.5) / n * 2 - 1)
    rays = forward + spread[None, :, None] * right - spread[:, None, None] * up
    return origin, rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def _room(origin: np.ndarray, rays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distance, surface (0 floor, 1 wall) and unit normal of the first room surface hit."""
    diagonal = np.sqrt(0.5)
    normals = np.array([[0.0, 1.0, 0.0], [diagonal, 0.0, diagonal], [-diagonal, 0.0, diagonal]])
    offsets = np.array([0.0, CORNER_DISTANCE * diagonal, CORNER_DISTANCE * diagonal])
    towards = rays @ normals.T  # the inside is normal . p + offset >= 0
    distance = np.where(towards < 0, -(normals @ origin + offsets) / towards, np.inf)
    plane = distance.argmin(axis=-1)
    return distance.min(axis=-1), np.minimum(plane, 1), normals[plane]


def _first_root(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The smaller root of ``a t^2 + b t + c`` (inf where there is none)."""
    disc = b * b - 4 * a * c
    return np.where(disc >= 0, (-b - np.sqrt(disc)) / (2 * a), np.inf)


def _nearest(*hits: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The nearest positive of several (distance ``(...)``, normal ``(..., 3)``) hits."""
    distance = np.stack([np.where(d > 0, d, np.inf) for d, _ in hits])
    which = distance.argmin(axis=0)
    normal = np.choose(which[..., None], [n for _, n in hits])
    return distance.min(axis=0), normal


def _sphere(
    origin: np.ndarray, rays: np.ndarray, centre: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Distance and unit normal where the rays hit a sphere."""
    rel = origin - centre
    t = _first_root(1.0, 2 * rays @ rel, rel @ rel - radius**2)
    return t, (origin + t[..., None] * rays - centre) / radius


def _object(
    origin: np.ndarray, rays: np.ndarray, shape: int, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Distance (inf on a miss) and unit normal where the rays hit object ``shape``.

    The object stands on the floor (y = 0) centred on the y axis; ``radius`` is half its
    height.
    """
    o, d = origin, rays
    if shape == 0:  # cube: slabs |x|, |z| <= r, 0 <= y <= 2r
        low = np.array([-radius, 0.0, -radius])
        high = np.array([radius, 2 * radius, radius])
        t1, t2 = (low - o) / d, (high - o) / d
        near = np.minimum(t1, t2)
        enter, leave = near.max(axis=-1), np.maximum(t1, t2).min(axis=-1)
        axis = near.argmax(axis=-1)
        normal = -np.sign(d) * (np.arange(3) == axis[..., None])
        return np.where(leave >= enter, enter, np.inf), normal
    if shape == 1:  # cylinder around the y axis, with a top cap
        a = d[..., 0] ** 2 + d[..., 2] ** 2
        b = 2 * (o[0] * d[..., 0] + o[2] * d[..., 2])
        t = _first_root(a, b, o[0] ** 2 + o[2] ** 2 - radius**2)
        point = o + t[..., None] * d
        side = np.where((point[..., 1] >= 0) & (point[..., 1] <= 2 * radius), t, np.inf)
        side_normal = point * [1.0, 0.0, 1.0] / radius
        t = (2 * radius - o[1]) / d[..., 1]
        point = o + t[..., None] * d
        top = np.where(point[..., 0] ** 2 + point[..., 2] ** 2 <= radius**2, t, np.inf)
        return _nearest((side, side_normal), (top, np.broadcast_to([0.0, 1.0, 0.0], d.shape)))
    if shape == 2:
        return _sphere(o, d, np.array([0.0, radius, 0.0]), radius)
    # capsule along the x axis: a cylinder of half length L and two end spheres
    length = CAPSULE_HALF_LENGTH * radius
    rel = o - [0.0, radius, 0.0]
    a = d[..., 1] ** 2 + d[..., 2] ** 2
    b = 2 * (rel[1] * d[..., 1] + rel[2] * d[..., 2])
    t = _first_root(a, b, rel[1] ** 2 + rel[2] ** 2 - radius**2)
    point = rel + t[..., None] * d
    side = np.where(np.abs(point[..., 0]) <= length, t, np.inf)
    ends = [_sphere(o, d, np.array([x, radius, 0.0]), radius) for x in (-length, length)]
    return _nearest((side, point * [0.0, 1.0, 1.0] / radius), *ends)


@functools.cache
def _surface_weights() -> np.ndarray:
    """``(15, 4, 8, 3, 64, 64)`` float32 weights of floor, walls and object in each pixel.

    Indexed by orientation, shape and scale: the share of the pixel's rays that hit each
    surface times the surface's shading, so an image is the weights times the three colours.
    """
    light = np.array(LIGHT) / np.linalg.norm(LIGHT)
    n_orient, n_shape, n_scale = (len(FACTOR_VALUES[k]) for k in ("orientation", "shape", "scale"))
    weights = np.zeros((n_orient, n_shape, n_scale, 3, IMAGE, IMAGE), np.float32)
    # Rays that miss an object divide by zero or multiply inf by 0; those become inf or nan
    # distances and normals that the masks below leave out.
    with np.errstate(divide="ignore", invalid="ignore"):
        for i, orientation in enumerate(FACTOR_VALUES["orientation"]):
            origin, rays = _camera_rays(orientation)
            room, surface, normal = _room(origin, rays)
            room_shade = AMBIENT + (1 - AMBIENT) * np.maximum(normal @ light, 0)
            for j in range(n_shape):
                for k, scale in enumerate(FACTOR_VALUES["scale"]):
                    hit, normal = _object(origin, rays, j, scale)
                    seen = hit < room
                    shade = AMBIENT + (1 - AMBIENT) * np.maximum(normal @ light, 0)
                    for index, mask in enumerate((~seen & (surface == 0), ~seen & (surface == 1))):
                        weights[i, j, k, index] = _pool(np.where(mask, room_shade, 0))
                    weights[i, j, k, 2] = _pool(np.where(seen, shade, 0))
    return weights


def _pool(values: np.ndarray) -> np.ndarray:
    """``(64 s, 64 s)`` ray values averaged over each pixel's ``s x s`` rays: ``(64, 64)``."""
    return values.reshape(IMAGE, SUPERSAMPLE, IMAGE, SUPERSAMPLE).mean(axis=(1, 3))


def render_images(factors: np.ndarray) -> np.ndarray:
    """uint8 ``(n, 3, 64, 64)`` images of ``(n, 6)`` factor indices on the published grid."""
    factors = check_factors(factors, FACTOR_NAMES, FACTOR_SIZES, "shapes3d")
    weights = _surface_weights()[factors[:, 5], factors[:, 4], factors[:, 3]]  # (n, 3, H, W)
    colours = HUE_RGB[factors[:, :3]] * np.float32(255)  # (n, surface, channel)
    images = np.einsum("nshw,nsc->nchw", weights, colours, optimize=True)
    images += 0.5  # rounds when cast
    return np.clip(images, 0, 255, out=images).astype(np.uint8)


def render_shapes3d() -> GroundTruthImages:
    """The whole grid drawn by :func:`render_images`, built once (about a minute) and cached."""
    params = {"version": CACHE_VERSION, "sizes": list(FACTOR_SIZES)}
    x = rendered_grid(
        "shapes3d", params, FACTOR_SIZES, 3, render_images, BLOCK, "Rendering 3DShapes"
    )
    return GroundTruthImages.on_grid(
        x, "shapes3d", FACTOR_VALUES, FACTOR_SIZES, {"shape": list(SHAPES)}, "rendered"
    )


def _h5py():
    """The h5py module, or UnweaveError saying how to install it."""
    return require("h5", f"Reading {H5_NAME}")


def _image_blocks(path: Path) -> Iterator[np.ndarray]:
    """The ``images`` of a 3dshapes.h5 as uint8 ``(n, 3, 64, 64)`` blocks."""
    with _h5py().File(path, "r") as file:
        images = file["images"]
        for start in range(0, len(images), BLOCK):
            yield np.ascontiguousarray(images[start : start + BLOCK].transpose(0, 3, 1, 2))


def load_shapes3d_h5(path: str | Path) -> GroundTruthImages:
    """The original ``3dshapes.h5`` as ground-truth images.

    Datasets ``images`` ``(480000, 64, 64, 3)`` uint8 and ``labels`` ``(480000, 6)`` float
    (the factor values, in the published order); the images are copied once into the cache
    as a uint8 memmap ``(480000, 3, 64, 64)``.
    """
    path = Path(path)
    if not path.is_file():
        raise UnweaveError(f"{path}: file not found; expected the 3DShapes file {H5_NAME}.")
    h5py = _h5py()
    n = int(np.prod(FACTOR_SIZES))
    expected = {"images": ((n, IMAGE, IMAGE, 3), "uint8"), "labels": ((n, 6), "floating")}
    try:
        file = h5py.File(path, "r")
    except OSError:
        raise UnweaveError(
            f"{path}: not an HDF5 file; expected the 3DShapes file {H5_NAME}."
        ) from None
    with file:
        for key, (shape, kind) in expected.items():
            if key not in file:
                raise UnweaveError(
                    f"{path}: no dataset '{key}'; expected '{key}' of shape {shape} ({kind})."
                )
            check_stored_array(
                path, f"dataset '{key}'", file[key].shape, file[key].dtype, shape, kind
            )
        labels = file["labels"][()]
    factors = np.stack(
        [
            factor_indices(labels[:, k], FACTOR_VALUES[name], name, f"{path}: dataset 'labels'")
            for k, name in enumerate(FACTOR_NAMES)
        ],
        axis=1,
    )
    rows = np.flatnonzero((factors != grid_factors(FACTOR_SIZES)).any(axis=1))
    if len(rows):
        raise UnweaveError(
            f"{path}: dataset 'labels' has {labels[rows[0]].tolist()} in row {rows[0]}; "
            "expected the published order (orientation fastest, then shape, scale, object, "
            "wall and floor hue)."
        )
    params = {
        "version": CACHE_VERSION,
        "file": file_fingerprint(path),
        "sizes": list(FACTOR_SIZES),
    }
    x = cached_images(
        "shapes3d-h5", params, (n, 3, IMAGE, IMAGE), lambda: _image_blocks(path), "Reading 3DShapes"
    )
    return GroundTruthImages.on_grid(
        x, "shapes3d", FACTOR_VALUES, FACTOR_SIZES, {"shape": list(SHAPES)}, str(path)
    )


def load_shapes3d(root: str | Path | None = None, split: str = "train") -> GroundTruthImages:
    """3DShapes: the original file when ``root`` is given, else our rendering.

    ``root`` is the h5 file itself or a folder holding ``3dshapes.h5``; ``split`` as in
    :func:`~unweave.data.ground_truth.as_split`.
    """
    if root is None:
        return as_split(render_shapes3d(), split)
    root = Path(root)
    return as_split(load_shapes3d_h5(root / H5_NAME if root.is_dir() else root), split)

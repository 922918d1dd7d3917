"""Toy Sprites: procedural video with the label structure of the Sprites benchmark.

A small character stands on black. Four static attributes (6 values each) colour its parts:
``skin`` (head), ``hair`` (a band on top of the head), ``top`` (torso and arms) and ``pants``
(legs). One dynamic factor ``action`` has 9 values, 3 motions x 3 directions:

* ``walk``: the legs lift in turn; ``wave``: one arm slides up and down beside the body;
  ``jump``: the whole body bobs up and down.
* ``front``: no drift, the face marker (a black eye) sits in the middle of the head;
  ``left`` / ``right``: the body drifts that way, the eye and the waving arm are on that side.

Each clip draws its labels uniformly, a start pose (one of the 4 poses of the motion cycle)
and a small position offset. Parts are axis-aligned rectangles in normalised ``[0, 1]``
coordinates rasterised at pixel centres, so any ``size >= 16`` works; every part is at least
one pixel wide at size 16 and every pose step moves a part by at least one pixel.
"""

from __future__ import annotations

import numpy as np

from unweave.data.base import SequenceData
from unweave.errors import UnweaveError

# name -> RGB; 6 clearly distinct colours per attribute, all 24 different from each other.
PALETTES: dict[str, dict[str, tuple[int, int, int]]] = {
    "skin": {
        "pale": (250, 215, 180),
        "tan": (205, 150, 100),
        "brown": (125, 80, 45),
        "green": (120, 200, 100),
        "grey": (165, 165, 165),
        "lilac": (190, 160, 230),
    },
    "hair": {
        "blonde": (245, 220, 90),
        "ginger": (215, 90, 30),
        "white": (250, 250, 250),
        "dark-brown": (80, 45, 20),
        "blue": (60, 110, 255),
        "pink": (255, 105, 180),
    },
    "top": {
        "red": (220, 30, 40),
        "orange": (255, 150, 0),
        "yellow": (230, 230, 40),
        "green": (20, 140, 50),
        "cyan": (0, 200, 210),
        "purple": (130, 40, 180),
    },
    "pants": {
        "navy": (25, 35, 130),
        "khaki": (190, 170, 110),
        "maroon": (120, 20, 40),
        "teal": (0, 120, 120),
        "charcoal": (70, 70, 70),
        "sky": (130, 190, 255),
    },
}
STATIC_FACTORS = tuple(PALETTES)
MOTIONS = ("walk", "wave", "jump")
DIRECTIONS = ("front", "left", "right")
ACTIONS = tuple(f"{m}-{d}" for m in MOTIONS for d in DIRECTIONS)  # index = motion * 3 + dir
EYE_COLOUR = (0, 0, 0)
MIN_SIZE = 16

# Layout in normalised units (y grows downwards), relative to the body centre x = cx.
_HAIR_Y = (0.15, 0.25)
_HEAD_Y = (0.25, 0.45)
_TORSO_Y = (0.44, 0.68)
_LEGS_Y = (0.68, 0.90)
_EYE_Y = (0.32, 0.39)
_HEAD_HALF_W = 0.12
_HAIR_HALF_W = 0.13
_TORSO_HALF_W = 0.12
_ARM_W = 0.07
_LEG_GAP_HALF = 0.03
_EYE_W = 0.07
# The 4-pose cycles; neighbouring poses always differ by at least one pixel at size 16.
_LEG_LIFT = 0.12  # walk: how much the lifted leg is shortened
_ARM_RAISE = 0.21  # wave: the arm slides from beside the torso to beside the head
_JUMP = 0.13  # jump: peak height
_CYCLE = np.array([0.0, 0.5, 1.0, 0.5])  # wave / jump amount per pose
_LIFT_LEFT = np.array([1.0, 0.0, 0.0, 0.0])  # walk: which leg is lifted per pose
_LIFT_RIGHT = np.array([0.0, 0.0, 1.0, 0.0])
_DRIFT_TOTAL = 0.21  # horizontal travel over a clip for left / right
_DRIFT_MAX_STEP = 0.03
_JITTER_X = 0.05
_JITTER_Y = 0.02
_CHUNK_PIXELS = 2_000_000  # pixels rasterised at once (bounds temporary memory)


Coord = np.ndarray | float  # a part edge: a scalar or an (N, T) array


def _colour_table() -> np.ndarray:
    """``(1 + 4 * 6 + 1, 3)`` uint8: background, the 4 palettes in order, then the eye."""
    rows = [(0, 0, 0)]
    for factor in STATIC_FACTORS:
        rows.extend(PALETTES[factor].values())
    rows.append(EYE_COLOUR)
    return np.array(rows, dtype=np.uint8)


def _part_boxes(
    motion: np.ndarray,
    direction: np.ndarray,
    start_pose: np.ndarray,
    offset: np.ndarray,
    seq_len: int,
) -> tuple[np.ndarray, list[str]]:
    """Rectangles of every part for every frame.

    Args:
        motion, direction, start_pose: ``(N,)`` ints.
        offset: ``(N, 2)`` per-clip (x, y) offset of the body.

    Returns:
        boxes ``(N, T, K, 4)`` float32 as (x0, x1, y0, y1) in paint order, and the K part kinds
        (``"pants"``, ``"top"``, ``"skin"``, ``"hair"``, ``"eye"``).
    """
    t = np.arange(seq_len)
    pose = (start_pose[:, None] + t[None, :]) % len(_CYCLE)  # (N, T)
    step = min(_DRIFT_MAX_STEP, _DRIFT_TOTAL / max(seq_len - 1, 1))
    side = np.where(direction == 1, -1.0, np.where(direction == 2, 1.0, 0.0))  # (N,)
    cx = 0.5 + offset[:, :1] + side[:, None] * step * t[None, :]  # (N, T)
    is_walk, is_wave, is_jump = (motion[:, None] == m for m in range(3))
    dy = offset[:, 1:] - is_jump * _JUMP * _CYCLE[pose]  # (N, T)
    lift_l = is_walk * _LEG_LIFT * _LIFT_LEFT[pose]
    lift_r = is_walk * _LEG_LIFT * _LIFT_RIGHT[pose]
    raise_amount = is_wave * _ARM_RAISE * _CYCLE[pose]
    # The waving arm is on the facing side (image right for front); the other stays down.
    wave_right = (direction != 1)[:, None]
    raise_r = np.where(wave_right, raise_amount, 0.0)
    raise_l = np.where(wave_right, 0.0, raise_amount)
    eye_x0 = np.select(
        [side[:, None] < 0, side[:, None] > 0],
        [cx - _HEAD_HALF_W, cx + _HEAD_HALF_W - _EYE_W],
        cx - _EYE_W / 2,
    )

    def box(x0: Coord, x1: Coord, y0: Coord, y1: Coord) -> np.ndarray:
        """One part's ``(N, T, 4)`` box; y is shifted by the body's vertical offset."""
        return np.stack(np.broadcast_arrays(x0, x1, y0 + dy, y1 + dy), -1)

    legs_y0, legs_y1 = _LEGS_Y
    torso_y0, torso_y1 = _TORSO_Y
    parts = [
        ("pants", box(cx - _TORSO_HALF_W, cx - _LEG_GAP_HALF, legs_y0, legs_y1 - lift_l)),
        ("pants", box(cx + _LEG_GAP_HALF, cx + _TORSO_HALF_W, legs_y0, legs_y1 - lift_r)),
        ("top", box(cx - _TORSO_HALF_W, cx + _TORSO_HALF_W, torso_y0, torso_y1)),
        (
            "top",
            box(
                cx - _TORSO_HALF_W - _ARM_W,
                cx - _TORSO_HALF_W,
                torso_y0 + 0.02 - raise_l,
                torso_y1 - 0.02 - raise_l,
            ),
        ),
        (
            "top",
            box(
                cx + _TORSO_HALF_W,
                cx + _TORSO_HALF_W + _ARM_W,
                torso_y0 + 0.02 - raise_r,
                torso_y1 - 0.02 - raise_r,
            ),
        ),
        ("skin", box(cx - _HEAD_HALF_W, cx + _HEAD_HALF_W, *_HEAD_Y)),
        ("hair", box(cx - _HAIR_HALF_W, cx + _HAIR_HALF_W, *_HAIR_Y)),
        ("eye", box(eye_x0, eye_x0 + _EYE_W, *_EYE_Y)),
    ]
    return np.stack([b for _, b in parts], 2).astype(np.float32), [k for k, _ in parts]


def _rasterise(boxes: np.ndarray, colour_index: np.ndarray, size: int, out: np.ndarray) -> None:
    """Paint boxes ``(n, T, K, 4)`` with colour-table rows ``(n, K)`` into ``out (n, T, 3, S, S)``.

    Later parts cover earlier ones: the part map is the maximum of ``(j + 1) * inside_j``.
    """
    n, t, k = boxes.shape[:3]
    centres = (np.arange(size, dtype=np.float32) + 0.5) / size
    x0, x1, y0, y1 = (boxes[..., i, None] for i in range(4))  # (n, T, K, 1)
    in_x = ((centres >= x0) & (centres < x1)).astype(np.uint8)  # (n, T, K, S)
    in_y = ((centres >= y0) & (centres < y1)).astype(np.uint8)
    in_y *= np.arange(1, k + 1, dtype=np.uint8)[:, None]
    part = np.zeros((n, t, size, size), dtype=np.uint8)  # 0 = background, else 1 + part
    layer = np.empty_like(part)
    for j in range(k):
        np.multiply(in_y[:, :, j, :, None], in_x[:, :, j, None, :], out=layer)
        np.maximum(part, layer, out=part)
    rows = np.concatenate([np.zeros((n, 1), np.int64), colour_index], 1)  # (n, K + 1)
    palette = _colour_table()[rows]  # (n, K + 1, 3)
    flat = part.astype(np.intp) + (k + 1) * np.arange(n)[:, None, None, None]
    for c in range(3):
        out[:, :, c] = np.take(palette[:, :, c].ravel(), flat)


def _check_shape(n: int, size: int, seq_len: int) -> None:
    """Raise UnweaveError for a clip count, frame size or length that cannot be drawn."""
    if n < 1:
        raise UnweaveError(f"toy-sprites needs at least one clip; got n={n}.")
    if size < MIN_SIZE:
        raise UnweaveError(f"toy-sprites needs size >= {MIN_SIZE}; got size={size}.")
    if seq_len < 1:
        raise UnweaveError(f"toy-sprites needs seq_len >= 1; got seq_len={seq_len}.")


def _draw(
    static: dict[str, np.ndarray],
    action: np.ndarray,
    start_pose: np.ndarray,
    offset: np.ndarray,
    size: int,
    seq_len: int,
) -> np.ndarray:
    """Render clips with the given ``(N,)`` labels, start poses and ``(N, 2)`` offsets.

    Returns ``(N, seq_len, 3, size, size)`` uint8.
    """
    n = len(action)
    boxes, kinds = _part_boxes(action // 3, action % 3, start_pose, offset, seq_len)
    # Colour-table row of each part per clip: 1 + 6 * factor position + value.
    first_row = {f: 1 + 6 * i for i, f in enumerate(STATIC_FACTORS)}
    eye_row = 1 + 6 * len(STATIC_FACTORS)
    colour_index = np.stack(
        [
            np.full(n, eye_row) if kind == "eye" else first_row[kind] + static[kind]
            for kind in kinds
        ],
        1,
    )
    x = np.empty((n, seq_len, 3, size, size), dtype=np.uint8)
    chunk = max(1, _CHUNK_PIXELS // (seq_len * size * size))
    for lo in range(0, n, chunk):
        hi = min(lo + chunk, n)
        _rasterise(boxes[lo:hi], colour_index[lo:hi], size, x[lo:hi])
    return x


def _random_pose(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-clip start pose ``(n,)`` and (x, y) position offset ``(n, 2)``."""
    start_pose = rng.integers(0, len(_CYCLE), n)
    offset = rng.uniform(-1.0, 1.0, (n, 2)) * np.array([_JITTER_X, _JITTER_Y])
    return start_pose, offset


def render_toy_sprites(
    static: dict[str, np.ndarray],
    action: np.ndarray,
    size: int = 64,
    seq_len: int = 8,
    seed: int = 0,
) -> np.ndarray:
    """Render clips with chosen labels: ``static`` factor -> ``(N,)``, ``action`` ``(N,)``.

    Start poses and offsets are drawn from ``seed``. Returns ``(N, seq_len, 3, size, size)``
    uint8.
    """
    action = np.asarray(action, dtype=np.int64).reshape(-1)
    _check_shape(len(action), size, seq_len)
    missing = [f for f in STATIC_FACTORS if f not in static]
    if missing:
        raise UnweaveError(f"render_toy_sprites needs labels for {', '.join(missing)}.")
    labels = {
        f: np.broadcast_to(np.asarray(static[f], np.int64), action.shape) for f in STATIC_FACTORS
    }
    for f, values in [*labels.items(), ("action", action)]:
        limit = len(ACTIONS) if f == "action" else len(PALETTES[f])
        if values.min() < 0 or values.max() >= limit:
            raise UnweaveError(f"toy-sprites factor '{f}' takes values 0..{limit - 1}.")
    start_pose, offset = _random_pose(np.random.default_rng(seed), len(action))
    return _draw(labels, action, start_pose, offset, size, seq_len)


def make_toy_sprites(
    n: int, size: int = 64, seq_len: int = 8, seed: int = 0, split: str = "train"
) -> SequenceData:
    """Generate ``n`` toy-sprites clips: x ``(n, seq_len, 3, size, size)`` uint8.

    Labels: static ``skin``, ``hair``, ``top``, ``pants`` (6 values each) and dynamic
    ``action`` (9 values, ``"walk-front"`` ...), each ``(n,)`` int64 and uniform. Deterministic
    given ``seed``.
    """
    _check_shape(n, size, seq_len)
    rng = np.random.default_rng(seed)
    static = {f: rng.integers(0, len(PALETTES[f]), n).astype(np.int64) for f in STATIC_FACTORS}
    action = rng.integers(0, len(ACTIONS), n).astype(np.int64)
    start_pose, offset = _random_pose(rng, n)
    x = _draw(static, action, start_pose, offset, size, seq_len)
    value_names = {f: list(PALETTES[f]) for f in STATIC_FACTORS}
    value_names["action"] = list(ACTIONS)
    return SequenceData(
        x=x,
        static=static,
        dynamic={"action": action},
        factor_sizes={**{f: len(PALETTES[f]) for f in STATIC_FACTORS}, "action": len(ACTIONS)},
        name="toy-sprites",
        split=split,
        value_names=value_names,
    )


def load_toy_sprites(
    split: str,
    size: int = 32,
    n_train: int = 3000,
    n_test: int = 600,
    seq_len: int = 8,
    seed: int = 0,
) -> SequenceData:
    """The ``"train"`` or ``"test"`` split of toy-sprites: x ``(N, seq_len, 3, size, size)``.

    The two splits come from two independent seeds derived from ``seed``.
    """
    if split not in ("train", "test"):
        raise UnweaveError(f"Unknown split '{split}' for toy-sprites; expected 'train' or 'test'.")
    train_seed, test_seed = np.random.SeedSequence(seed).generate_state(2)
    if split == "train":
        return make_toy_sprites(n_train, size, seq_len, int(train_seed), "train")
    return make_toy_sprites(n_test, size, seq_len, int(test_seed), "test")

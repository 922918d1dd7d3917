"""The Sprites video benchmark (Li & Mandt 2018): 1296 LPC characters in 9 action clips.

Two sources give the same data set:

* the LPC sheets (``body/ bottomwear/ topwear/ hair/ shoes/`` of 832x1344 PNGs), composed here
  exactly as the benchmark does: character ``c`` in 0..1295 is body, bottomwear, topwear, hair
  = the base-6 digits of ``c`` (most significant first), alpha-composited in that order on
  black, then ``shoes/1.png``; each clip is 8 tiles of one sheet row (see ``ACTIONS``); the
  first 1000 characters of ``RandomState(423).permutation(1296)`` are train, the rest test; or
* the legacy npy files ``sprites_{X,A,D}_{train,test}.npy`` written by the original scripts.

Either way the result lives in the cache as uint8 frames ``(N, 8, 3, 64, 64)`` with static
factors skin, pants, top, hair (6 values each) and the dynamic factor ``action``
(9 values, ``3 * action + direction``). Built from the sheets, the 1000 train characters give
9000 clips and the 296 test characters 2664, ordered by character id, then action label.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm.auto import tqdm

from unweave.data.base import SequenceData
from unweave.data.cache import cached_build, file_fingerprint, load_split, save_split
from unweave.errors import UnweaveError

SHEET_WIDTH, SHEET_HEIGHT = 832, 1344
TILE = 64
FRAMES = 8
N_VARIANTS = 6
N_CHARACTERS = N_VARIANTS**4
N_TRAIN_CHARACTERS = 1000
SPLIT_SEED = 423
BUILD_VERSION = 1

LAYERS = ("body", "bottomwear", "topwear", "hair")
SHOES_SHEET = "shoes/1.png"
SHEET_FOLDERS = (*LAYERS, "shoes")
STATIC_FACTORS = ("skin", "pants", "top", "hair")
DIRECTIONS = ("front", "left", "right")

# action name, sheet row per direction (front, left, right), the 8 sheet columns of the clip
ACTIONS: tuple[tuple[str, tuple[int, int, int], tuple[int, ...]], ...] = (
    ("walk", (10, 9, 11), (8, 1, 2, 3, 4, 5, 6, 7)),
    ("spellcard", (2, 1, 3), (0, 1, 2, 3, 4, 5, 4, 6)),
    ("slash", (14, 13, 15), (0, 1, 2, 3, 4, 5, 4, 0)),
)
N_CLIPS = len(ACTIONS) * len(DIRECTIONS)

VALUE_NAMES: dict[str, list[str]] = {
    "skin": ["light", "neutral", "dark-gray", "gray", "brown", "black"],
    "pants": ["white", "yellow", "red", "gray", "shade-green", "green"],
    "top": ["red", "blue", "white", "gray", "brown", "white-tie"],
    # Not in the community list; named after each sheet's dominant colour.
    "hair": ["green", "indigo", "orange", "gray", "red", "purple"],
    "action": [f"{name}-{direction}" for name, _, _ in ACTIONS for direction in DIRECTIONS],
}
FACTOR_SIZES: dict[str, int] = {**dict.fromkeys(STATIC_FACTORS, N_VARIANTS), "action": N_CLIPS}

LEGACY_FRAME_SHAPE = (FRAMES, TILE, TILE, 3)
LEGACY_CHUNK = 128  # clips converted at a time: 50 MB of float32


# --- characters, clips and the split -------------------------------------------------------


def character_factors(characters: np.ndarray) -> np.ndarray:
    """Base-6 digits ``(N, 4)`` (skin, pants, top, hair) of character ids ``(N,)``."""
    c = np.asarray(characters, dtype=np.int64)
    return np.stack([c // 216, (c // 36) % 6, (c // 6) % 6, c % 6], axis=1)


def split_characters(split: str) -> np.ndarray:
    """Sorted character ids ``(1000,)`` for train or ``(296,)`` for test (seed-423 permutation)."""
    perm = np.random.RandomState(SPLIT_SEED).permutation(N_CHARACTERS)
    if split == "train":
        return np.sort(perm[:N_TRAIN_CHARACTERS])
    if split == "test":
        return np.sort(perm[N_TRAIN_CHARACTERS:])
    raise UnweaveError(f"Unknown split '{split}'; expected 'train' or 'test'.")


def clip_tiles() -> list[tuple[int, int]]:
    """The ``(row, column)`` sheet tiles of all 72 frames, clip label major, frame minor."""
    return [
        (rows[d], col) for _, rows, cols in ACTIONS for d in range(len(DIRECTIONS)) for col in cols
    ]


def _split_labels(characters: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Static and dynamic labels ``(9 * n,)`` of the clips of ``characters`` (character major)."""
    digits = np.repeat(character_factors(characters), N_CLIPS, axis=0)
    static = {name: digits[:, i].copy() for i, name in enumerate(STATIC_FACTORS)}
    dynamic = {"action": np.tile(np.arange(N_CLIPS, dtype=np.int64), len(characters))}
    return static, dynamic


# --- streaming an .npy file ---------------------------------------------------------------


class _NpyWriter:
    """Writes a uint8 ``.npy`` array of a known shape in row chunks, so memory stays bounded."""

    def __init__(self, path: Path, shape: tuple[int, ...]) -> None:
        self.path = path
        self.shape = shape
        self.rows = 0
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 - closed in close()
        header = {
            "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
            "fortran_order": False,
            "shape": shape,
        }
        np.lib.format.write_array_header_1_0(self._file, header)

    def write(self, rows: np.ndarray) -> None:
        """Append ``rows`` of shape ``(n, *shape[1:])``."""
        assert rows.shape[1:] == self.shape[1:] and rows.dtype == np.uint8
        self._file.write(np.ascontiguousarray(rows).data)
        self.rows += len(rows)

    def close(self) -> None:
        """Close the file (safe to call twice)."""
        self._file.close()

    def finish(self) -> None:
        """Close the file and check that every row was written."""
        self.close()
        if self.rows != self.shape[0]:
            raise RuntimeError(f"{self.path}: wrote {self.rows} rows, expected {self.shape[0]}.")


def _save_split_streamed(
    folder: Path,
    data_name: str,
    split: str,
    static: dict[str, np.ndarray],
    dynamic: dict[str, np.ndarray],
    frame_shape: tuple[int, ...],
) -> _NpyWriter:
    """Write labels and meta through :func:`save_split`, then open ``<split>_x.npy`` for streaming.

    ``save_split`` gets a placeholder ``x`` of shape ``(N, 0, 0, 0, 0)``; the returned writer
    replaces that file with the real ``(N, *frame_shape)`` uint8 frames.
    """
    n = len(next(iter(static.values())))
    placeholder = SequenceData(
        x=np.zeros((n, 0, 0, 0, 0), np.uint8),
        static=static,
        dynamic=dynamic,
        factor_sizes=dict(FACTOR_SIZES),
        value_names={k: list(v) for k, v in VALUE_NAMES.items()},
        name=data_name,
        split=split,
    )
    save_split(folder, placeholder)
    return _NpyWriter(folder / f"{split}_x.npy", (n, *frame_shape))


# --- building from the LPC sheets --------------------------------------------------------


def _sheet_files(sheet_root: Path) -> list[Path]:
    """The 25 sheets used, in layer order (6 per layer, then shoes); each must exist."""
    files = [sheet_root / layer / f"{i}.png" for layer in LAYERS for i in range(N_VARIANTS)]
    files.append(sheet_root / SHOES_SHEET)
    for path in files:
        if not path.is_file():
            raise UnweaveError(
                f"Sprites sheet {path} is missing; expected 0.png to 5.png in each of "
                f"{', '.join(f'{x}/' for x in LAYERS)} and {SHOES_SHEET} under {sheet_root}."
            )
    return files


def _sheet_params(sheet_root: Path) -> dict:
    """Cache parameters: the builder version and a content hash of every sheet used."""
    files = _sheet_files(sheet_root)
    digests = {
        str(path.relative_to(sheet_root)): hashlib.sha256(path.read_bytes()).hexdigest()[:20]
        for path in files
    }
    return {"version": BUILD_VERSION, "sheets": digests}


def _read_sheet_tiles(path: Path, tiles: list[tuple[int, int]]) -> np.ndarray:
    """The RGBA pixels ``(len(tiles) * 64 * 64, 4)`` uint8 of ``tiles`` of one sheet."""
    try:
        with Image.open(path) as image:
            size = image.size
            if size != (SHEET_WIDTH, SHEET_HEIGHT):
                raise UnweaveError(
                    f"Sprites sheet {path} is {size[0]}x{size[1]} pixels; "
                    f"expected {SHEET_WIDTH}x{SHEET_HEIGHT} pixels."
                )
            rgba = np.asarray(image.convert("RGBA"))
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
    ) as err:
        raise UnweaveError(
            f"Sprites sheet {path} is not a readable image ({type(err).__name__}); "
            f"expected an {SHEET_WIDTH}x{SHEET_HEIGHT} PNG."
        ) from err
    grid = rgba.reshape(SHEET_HEIGHT // TILE, TILE, SHEET_WIDTH // TILE, TILE, 4)
    rows = np.array([r for r, _ in tiles])
    cols = np.array([c for _, c in tiles])
    return np.ascontiguousarray(grid[rows, :, cols]).reshape(-1, 4)


class _Layer:
    """One sheet layer restricted to the pixels where any of its variants is visible.

    ``premult`` is ``(V, K, 3)`` uint32 ``rgb * alpha``, ``keep`` ``(V, K, 1)`` is ``255 - alpha``,
    ``index`` ``(K,)`` the visible pixel positions among the ``P`` clip pixels.
    """

    def __init__(self, rgba: np.ndarray) -> None:
        # rgba: (V, P, 4) uint8
        self.index = np.flatnonzero((rgba[..., 3] > 0).any(axis=0))
        sub = rgba[:, self.index].astype(np.uint32)
        alpha = sub[..., 3:]
        self.premult = sub[..., :3] * alpha
        self.keep = 255 - alpha

    def over(self, below: np.ndarray) -> np.ndarray:
        """Composite each variant over opaque RGB ``below`` ``(*B, P, 3)`` -> ``(*B, V, P, 3)``.

        Bit-identical to PIL's ``Image.alpha_composite`` on an opaque canvas: PIL's fixed-point
        ``(src * a + dst * (255 - a)) / 255`` reduces to ``(128 u + u // 2) >> 15`` with
        ``u = src * a + dst * (255 - a) + 128`` (checked against PIL for all 2^24 inputs).
        """
        n_var = len(self.premult)
        out = np.repeat(below[..., None, :, :], n_var, axis=-3)
        dst = below[..., None, self.index, :].astype(np.uint32)
        u = dst * self.keep + self.premult + 128
        out[..., self.index, :] = ((u << 7) + (u >> 1)) >> 15
        return out


def _compose_characters(layers: list[np.ndarray], shoes: np.ndarray) -> Iterator[np.ndarray]:
    """Yield the clips ``(36, 9, 8, 3, 64, 64)`` uint8 of characters ``36 k .. 36 k + 35``.

    ``layers``: body, bottomwear, topwear, hair, each ``(6, P, 4)`` uint8 RGBA clip pixels;
    ``shoes``: ``(P, 4)``. ``P = 72 * 64 * 64``.
    """
    body, bottom, top, hair = (_Layer(x) for x in layers)
    shoe = _Layer(shoes[None])
    n_pixels = shoes.shape[0]
    black = np.zeros((n_pixels, 3), np.uint8)
    with_body = body.over(black)  # (6, P, 3)
    for b in range(N_VARIANTS):
        with_bottom = bottom.over(with_body[b])  # (6, P, 3)
        for p in range(N_VARIANTS):
            dressed = hair.over(top.over(with_bottom[p]))  # (6 top, 6 hair, P, 3)
            full = shoe.over(dressed)[..., 0, :, :]  # (6, 6, P, 3)
            clips = full.reshape(N_VARIANTS**2, N_CLIPS, FRAMES, TILE, TILE, 3)
            yield clips.transpose(0, 1, 2, 5, 3, 4)


def build_sprites_from_sheets(sheet_root: Path) -> Path:
    """Compose the Sprites benchmark from the LPC sheets; return its complete cache folder.

    The folder holds both splits (see :func:`unweave.data.cache.save_split`): ``train`` 9000
    and ``test`` 2664 clips of uint8 frames ``(N, 8, 3, 64, 64)``. Cached by sheet content.
    """
    sheet_root = Path(sheet_root)
    params = _sheet_params(sheet_root)
    files = _sheet_files(sheet_root)

    def build(folder: Path) -> None:
        tiles = clip_tiles()
        pixels = [_read_sheet_tiles(path, tiles) for path in files]  # validates every sheet
        layers = [np.stack(pixels[i * N_VARIANTS : (i + 1) * N_VARIANTS]) for i in range(4)]
        in_train = np.zeros(N_CHARACTERS, bool)
        in_train[split_characters("train")] = True
        writers = {}
        for split in ("train", "test"):
            static, dynamic = _split_labels(split_characters(split))
            writers[split] = _save_split_streamed(
                folder, "sprites", split, static, dynamic, (FRAMES, 3, TILE, TILE)
            )
        try:
            group = N_VARIANTS**2
            bar = tqdm(total=N_CHARACTERS, desc="Building Sprites", unit="char")
            with bar:
                for k, clips in enumerate(_compose_characters(layers, pixels[-1])):
                    mask = in_train[k * group : (k + 1) * group]
                    for split, chosen in (("train", mask), ("test", ~mask)):
                        writers[split].write(clips[chosen].reshape(-1, FRAMES, 3, TILE, TILE))
                    bar.update(group)
            for writer in writers.values():
                writer.finish()
        finally:
            for writer in writers.values():
                writer.close()

    return cached_build("sprites", params, build)


# --- the legacy npy files ----------------------------------------------------------------


def _legacy_files(folder: Path, split: str) -> dict[str, Path]:
    return {key: folder / f"sprites_{key}_{split}.npy" for key in ("X", "A", "D")}


def _open_npy(path: Path) -> np.ndarray:
    """Memmap ``path`` read-only, turning a missing or unreadable file into an UnweaveError."""
    if not path.is_file():
        raise UnweaveError(f"Legacy Sprites file {path} is missing.")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise UnweaveError(f"Legacy Sprites file {path} is not a readable .npy array.") from err


def _check_shape(path: Path, array: np.ndarray, expected: tuple, shown: str) -> None:
    if array.ndim != len(expected) or any(
        e is not None and e != s for e, s in zip(expected, array.shape, strict=True)
    ):
        raise UnweaveError(
            f"Legacy Sprites file {path.name} has shape {tuple(array.shape)}; expected {shown}."
        )


def _legacy_labels(path: Path, array: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """The index of the 1 in each one-hot vector of frame 0: ``(N, len(names))`` int64.

    ``array`` is ``(N, 8, len(names), V)``; anything but one 1 and ``V - 1`` zeros per vector
    (strings, NaN, all zeros, two ones...) raises UnweaveError naming the clip and the factor.
    """
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) or (
        np.issubdtype(array.dtype, np.complexfloating)
    ):
        raise UnweaveError(
            f"Legacy Sprites file {path.name} has dtype {array.dtype}; "
            "expected one-hot numbers (float32, an integer type or bool)."
        )
    first = np.asarray(array[:, 0], dtype=np.float64)  # (N, K, V)
    one_hot = ((first == 0) | (first == 1)).all(axis=-1) & (first.sum(axis=-1) == 1)
    if not one_hot.all():
        clip, factor = (int(i[0]) for i in np.nonzero(~one_hot))
        values = ", ".join(f"{v:g}" for v in first[clip, factor])
        raise UnweaveError(
            f"Legacy Sprites file {path.name}: clip {clip} has {names[factor]} values "
            f"({values}) in frame 0; expected one-hot labels (one 1, the rest 0)."
        )
    return first.argmax(axis=-1).astype(np.int64)


def _check_legacy_frames(path: Path, block: np.ndarray, start: int) -> None:
    """Refuse float frames of clips ``start...`` that are NaN, infinite or outside [0, 1]."""
    bad = ~(np.isfinite(block) & (block >= 0) & (block <= 1))
    if bad.any():
        clip = start + int(np.flatnonzero(bad.reshape(len(block), -1).any(axis=1))[0])
        value = block.reshape(-1)[np.flatnonzero(bad.reshape(-1))[0]]
        raise UnweaveError(
            f"Legacy Sprites file {path.name}: clip {clip} has the value {value:g}; "
            "expected float frames in [0, 1] (uint8 / 256)."
        )


def read_legacy_npy(folder: Path, split: str) -> SequenceData:
    """Read split ``split`` of the legacy ``sprites_{X,A,D}_<split>.npy`` files (cached as uint8).

    ``X`` ``(N, 8, 64, 64, 3)`` float32 ``= uint8 / 256`` (uint8 also accepted), ``A``
    ``(N, 8, 4, 6)`` one-hot skin/pants/top/hair, ``D`` ``(N, 8, 9)`` one-hot action; labels
    come from frame 0. Returns frames ``(N, 8, 3, 64, 64)`` uint8 (memmapped), file order kept.
    Labels that are not one-hot and float frames outside [0, 1] (NaN included) are errors.
    """
    folder = Path(folder)
    if split not in ("train", "test"):
        raise UnweaveError(f"Unknown split '{split}'; expected 'train' or 'test'.")
    paths = _legacy_files(folder, split)
    arrays = {key: _open_npy(path) for key, path in paths.items()}
    x, a, d = arrays["X"], arrays["A"], arrays["D"]
    _check_shape(paths["X"], x, (None, *LEGACY_FRAME_SHAPE), "(N, 8, 64, 64, 3)")
    n = len(x)
    if n == 0:
        raise UnweaveError(
            f"Legacy Sprites file {paths['X'].name} holds no clips; expected at least one."
        )
    _check_shape(paths["A"], a, (n, FRAMES, 4, N_VARIANTS), f"({n}, 8, 4, 6) to match X")
    _check_shape(paths["D"], d, (n, FRAMES, N_CLIPS), f"({n}, 8, 9) to match X")
    if not (np.issubdtype(x.dtype, np.floating) or x.dtype == np.uint8):
        raise UnweaveError(
            f"Legacy Sprites file {paths['X'].name} has dtype {x.dtype}; "
            "expected float32 (uint8 / 256) or uint8."
        )
    static_idx = _legacy_labels(paths["A"], a, STATIC_FACTORS)  # (N, 4)
    static = {name: static_idx[:, i].copy() for i, name in enumerate(STATIC_FACTORS)}
    dynamic = {"action": _legacy_labels(paths["D"], d[:, :, None], ("action",))[:, 0]}
    del arrays, x, a, d  # close the memmaps

    params = {
        "version": BUILD_VERSION,
        "split": split,
        "files": {key: file_fingerprint(path) for key, path in paths.items()},
    }

    def build(out: Path) -> None:
        writer = _save_split_streamed(
            out, "sprites", split, static, dynamic, (FRAMES, 3, TILE, TILE)
        )
        try:
            bar = tqdm(total=n, desc=f"Converting legacy Sprites {split}", unit="clip")
            with bar:
                for start in range(0, n, LEGACY_CHUNK):
                    # A fresh memmap per chunk keeps the mapped pages (and RSS) bounded.
                    src = np.load(paths["X"], mmap_mode="r")
                    block = np.array(src[start : start + LEGACY_CHUNK])
                    del src
                    if block.dtype != np.uint8:
                        _check_legacy_frames(paths["X"], block, start)
                        block = np.clip(np.rint(block * 256.0), 0, 255).astype(np.uint8)
                    writer.write(block.transpose(0, 1, 4, 2, 3))
                    bar.update(len(block))
            writer.finish()
        finally:
            writer.close()

    return load_split(cached_build("sprites-legacy", params, build), split)


# --- entry point ---------------------------------------------------------------------------


def load_sprites(root: Path, split: str) -> SequenceData:
    """Load split ``split`` of Sprites from ``root``: the LPC sheet folders or the legacy npy files.

    Frames are uint8 ``(N, 8, 3, 64, 64)``; built once and cached (``$UNWEAVE_CACHE``).
    """
    root = Path(root)
    if split not in ("train", "test"):
        raise UnweaveError(f"Unknown split '{split}'; expected 'train' or 'test'.")
    if not root.exists():
        raise UnweaveError(f"Sprites folder {root} does not exist.")
    if not root.is_dir():
        raise UnweaveError(f"Sprites root {root} is a file; expected a folder.")
    present = [name for name in SHEET_FOLDERS if (root / name).is_dir()]
    if len(present) == len(SHEET_FOLDERS):
        return load_split(build_sprites_from_sheets(root), split)
    if any(root.glob("sprites_[XAD]_*.npy")):
        return read_legacy_npy(root, split)
    expected_sheets = ", ".join(f"{name}/" for name in SHEET_FOLDERS)
    if present:
        missing = ", ".join(f"{name}/" for name in SHEET_FOLDERS if name not in present)
        raise UnweaveError(
            f"Sprites folder {root} lacks the sheet folders {missing}; "
            f"expected all of {expected_sheets}."
        )
    raise UnweaveError(
        f"Sprites folder {root} holds neither the LPC sheet folders ({expected_sheets}) "
        "nor the legacy files sprites_X_<split>.npy, sprites_A_<split>.npy, "
        "sprites_D_<split>.npy."
    )

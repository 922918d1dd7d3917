"""Sprites from the real LPC sheets, the legacy npy reader, and clear errors on bad input."""

from __future__ import annotations

import io
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unweave.data.cache import COMPLETE_MARKER
from unweave.data.sprites import (
    _sheet_params,
    build_sprites_from_sheets,
    load_sprites,
    read_legacy_npy,
)
from unweave.errors import UnweaveError

DATA_ROOT = Path(
    os.environ.get("UNWEAVE_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data"
)
SHEETS = DATA_ROOT / "sprites-lpc"

# sheet row of each clip label (3 * action + direction) and the 8 columns of each action
CLIP_ROWS = [10, 9, 11, 2, 1, 3, 14, 13, 15]
ACTION_COLS = [[8, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5, 4, 6], [0, 1, 2, 3, 4, 5, 4, 0]]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory):
    """A fresh UNWEAVE_CACHE for the whole module, so the real build runs once."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UNWEAVE_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def sprites(cache_dir: Path):
    """``{"train": SequenceData, "test": SequenceData}`` built from the real sheets."""
    if not SHEETS.is_dir():
        pytest.skip(f"real Sprites sheets not found at {SHEETS}")
    return {split: load_sprites(SHEETS, split) for split in ("train", "test")}


def character_ids(data) -> np.ndarray:
    """Character id ``(N,)`` of every clip, from its static labels (base-6 digits)."""
    s = data.static
    return 216 * s["skin"] + 36 * s["pants"] + 6 * s["top"] + s["hair"]


def pil_sheet(c: int) -> np.ndarray:
    """The composed RGB sheet ``(1344, 832, 3)`` of character ``c``, independently via PIL."""
    canvas = Image.new("RGBA", (832, 1344), (0, 0, 0, 255))
    layers = [
        f"body/{c // 216}.png",
        f"bottomwear/{(c // 36) % 6}.png",
        f"topwear/{(c // 6) % 6}.png",
        f"hair/{c % 6}.png",
        "shoes/1.png",
    ]
    for name in layers:
        canvas = Image.alpha_composite(canvas, Image.open(SHEETS / name).convert("RGBA"))
    return np.asarray(canvas)[..., :3]


def assert_no_complete_entry(cache: Path, kind: str) -> None:
    assert not list((cache / kind).glob(f"*/{COMPLETE_MARKER}"))
    assert not list((cache / kind).glob(".*tmp*"))


def test_counts_shapes_and_dtype(sprites) -> None:
    assert len(sprites["train"]) == 9000 and len(sprites["test"]) == 2664
    for data in sprites.values():
        assert data.x.shape == (len(data), 8, 3, 64, 64)
        assert data.x.dtype == np.uint8
        assert data.name == "sprites"


def test_labels_and_split(sprites) -> None:
    perm = np.random.RandomState(423).permutation(1296)
    expected = {"train": set(perm[:1000].tolist()), "test": set(perm[1000:].tolist())}
    for split, data in sprites.items():
        for name in ("skin", "pants", "top", "hair"):
            assert data.factor_sizes[name] == 6
            assert set(np.unique(data.static[name]).tolist()) == set(range(6))
            assert len(data.value_names[name]) == 6
        assert data.factor_sizes["action"] == 9
        assert np.bincount(data.dynamic["action"], minlength=9).tolist() == [len(data) // 9] * 9
        assert data.value_names["action"][0] == "walk-front"
        assert data.value_names["action"][7] == "slash-left"
        ids = character_ids(data)
        assert set(ids.tolist()) == expected[split]
        assert (np.bincount(ids, minlength=1296)[list(expected[split])] == 9).all()
        # character-major order, clips in label order
        assert (np.diff(ids) >= 0).all()
        assert (data.dynamic["action"] == np.tile(np.arange(9), len(data) // 9)).all()
    train_ids = set(character_ids(sprites["train"]).tolist())
    assert not train_ids & set(character_ids(sprites["test"]).tolist())


@pytest.mark.parametrize("split", ["train", "test"])
def test_frames_match_pil_composite(sprites, split: str) -> None:
    data = sprites[split]
    ids = character_ids(data)
    c = int(ids[len(ids) // 2])
    sheet = pil_sheet(c)
    rows = np.flatnonzero(ids == c)
    clips = np.asarray(data.x[rows])  # (9, 8, 3, 64, 64)
    for label in range(9):
        r, cols = CLIP_ROWS[label], ACTION_COLS[label // 3]
        want = np.stack([sheet[64 * r : 64 * r + 64, 64 * k : 64 * k + 64] for k in cols])
        np.testing.assert_array_equal(clips[label], want.transpose(0, 3, 1, 2))
    # walk-front frame 0 is row 10, column 8
    np.testing.assert_array_equal(clips[0, 0].transpose(1, 2, 0), sheet[640:704, 512:576])
    # every action-direction clip differs
    flat = clips.reshape(9, -1)
    assert len({row.tobytes() for row in flat}) == 9
    # black background, something drawn
    assert clips[0, 0, :, 0, 0].tolist() == [0, 0, 0] and clips.max() > 0


def test_cache_hit_and_fingerprint(sprites, cache_dir: Path, tmp_path: Path) -> None:
    folder = build_sprites_from_sheets(SHEETS)
    assert (folder / COMPLETE_MARKER).exists()
    assert len(list((cache_dir / "sprites").glob(f"*/{COMPLETE_MARKER}"))) == 1
    copy = tmp_path / "sheets"
    shutil.copytree(SHEETS, copy)
    assert _sheet_params(copy) == _sheet_params(SHEETS)
    with Image.open(copy / "hair/2.png") as image:
        changed = image.convert("RGBA")
    changed.putpixel((0, 0), (1, 2, 3, 255))
    changed.save(copy / "hair/2.png")
    assert _sheet_params(copy) != _sheet_params(SHEETS)


def write_legacy(folder: Path, data, split: str, rows: np.ndarray) -> None:
    """Write the legacy npy triple for ``rows`` of ``data``, as the original scripts store it."""
    x = np.asarray(data.x[rows]).transpose(0, 1, 3, 4, 2).astype(np.float32) / 256
    n = len(rows)
    a = np.zeros((n, 8, 4, 6), np.float32)
    for i, name in enumerate(("skin", "pants", "top", "hair")):
        a[np.arange(n), :, i, data.static[name][rows]] = 1
    d = np.zeros((n, 8, 9), np.float32)
    d[np.arange(n), :, data.dynamic["action"][rows]] = 1
    np.save(folder / f"sprites_X_{split}.npy", x)
    np.save(folder / f"sprites_A_{split}.npy", a)
    np.save(folder / f"sprites_D_{split}.npy", d)


def test_legacy_round_trip(sprites, tmp_path: Path) -> None:
    for split, rows in (("train", np.array([17, 3, 8000, 40])), ("test", np.array([5, 2600]))):
        data = sprites[split]
        write_legacy(tmp_path, data, split, rows)
        for got in (read_legacy_npy(tmp_path, split), load_sprites(tmp_path, split)):
            assert got.x.shape == (len(rows), 8, 3, 64, 64) and got.x.dtype == np.uint8
            np.testing.assert_array_equal(np.asarray(got.x), np.asarray(data.x[rows]))
            for name in ("skin", "pants", "top", "hair"):
                np.testing.assert_array_equal(got.static[name], data.static[name][rows])
            np.testing.assert_array_equal(got.dynamic["action"], data.dynamic["action"][rows])
            assert got.factor_sizes == data.factor_sizes


# --- bad input ---------------------------------------------------------------------------


@pytest.fixture
def sheet_copy(tmp_path: Path) -> Path:
    if not SHEETS.is_dir():
        pytest.skip(f"real Sprites sheets not found at {SHEETS}")
    copy = tmp_path / "sheets"
    shutil.copytree(SHEETS, copy)
    return copy


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(UnweaveError, match="does not exist") as err:
        load_sprites(tmp_path / "nowhere", "train")
    assert "nowhere" in str(err.value)


def test_folder_with_neither_layout(tmp_path: Path, fresh_cache: Path) -> None:
    with pytest.raises(UnweaveError, match="body/") as err:
        load_sprites(tmp_path, "train")
    assert "sprites_X_" in str(err.value) and str(tmp_path) in str(err.value)


def test_missing_sheet(sheet_copy: Path, fresh_cache: Path) -> None:
    (sheet_copy / "body" / "3.png").unlink()
    with pytest.raises(UnweaveError, match=r"body/3\.png.*missing"):
        load_sprites(sheet_copy, "train")
    assert_no_complete_entry(fresh_cache, "sprites")


def test_wrong_sheet_size(sheet_copy: Path, fresh_cache: Path) -> None:
    path = sheet_copy / "topwear" / "4.png"
    with Image.open(path) as image:
        image.convert("RGBA").resize((800, 1344)).save(path)
    with pytest.raises(UnweaveError, match=r"topwear/4\.png") as err:
        load_sprites(sheet_copy, "test")
    assert "800x1344" in str(err.value) and "expected 832x1344" in str(err.value)
    assert_no_complete_entry(fresh_cache, "sprites")


def test_sheet_not_an_image(sheet_copy: Path, fresh_cache: Path) -> None:
    (sheet_copy / "hair" / "2.png").write_bytes(b"this is not a png")
    with pytest.raises(UnweaveError, match=r"hair/2\.png.*not a readable image"):
        load_sprites(sheet_copy, "train")
    assert_no_complete_entry(fresh_cache, "sprites")


def test_legacy_x_wrong_shape(tmp_path: Path, fresh_cache: Path) -> None:
    np.save(tmp_path / "sprites_X_train.npy", np.zeros((4, 8, 32, 32, 3), np.float32))
    np.save(tmp_path / "sprites_A_train.npy", np.zeros((4, 8, 4, 6), np.float32))
    np.save(tmp_path / "sprites_D_train.npy", np.zeros((4, 8, 9), np.float32))
    with pytest.raises(UnweaveError, match="sprites_X_train.npy") as err:
        load_sprites(tmp_path, "train")
    assert "(4, 8, 32, 32, 3)" in str(err.value) and "(N, 8, 64, 64, 3)" in str(err.value)
    assert_no_complete_entry(fresh_cache, "sprites-legacy")


@pytest.mark.parametrize(
    ("name", "shape"),
    [("sprites_A_test.npy", (3, 8, 4, 6)), ("sprites_D_test.npy", (4, 8, 10))],
)
def test_legacy_labels_wrong_shape(
    tmp_path: Path, fresh_cache: Path, name: str, shape: tuple[int, ...]
) -> None:
    np.save(tmp_path / "sprites_X_test.npy", np.zeros((4, 8, 64, 64, 3), np.float32))
    np.save(tmp_path / "sprites_A_test.npy", np.zeros((4, 8, 4, 6), np.float32))
    np.save(tmp_path / "sprites_D_test.npy", np.zeros((4, 8, 9), np.float32))
    np.save(tmp_path / name, np.zeros(shape, np.float32))
    with pytest.raises(UnweaveError, match=name) as err:
        read_legacy_npy(tmp_path, "test")
    assert str(shape) in str(err.value) and "to match X" in str(err.value)
    assert_no_complete_entry(fresh_cache, "sprites-legacy")


def test_legacy_missing_and_unreadable(tmp_path: Path, fresh_cache: Path) -> None:
    np.save(tmp_path / "sprites_X_test.npy", np.zeros((4, 8, 64, 64, 3), np.float32))
    with pytest.raises(UnweaveError, match=r"sprites_A_test\.npy is missing"):
        load_sprites(tmp_path, "test")
    (tmp_path / "sprites_A_test.npy").write_bytes(b"garbage")
    with pytest.raises(UnweaveError, match=r"sprites_A_test\.npy is not a readable"):
        load_sprites(tmp_path, "test")
    assert_no_complete_entry(fresh_cache, "sprites-legacy")


def _legacy_arrays(n: int = 3) -> dict[str, np.ndarray]:
    """Valid legacy arrays: grey frames, skin/pants/top/hair value 2, action 4."""
    a = np.zeros((n, 8, 4, 6), np.float32)
    a[..., 2] = 1
    d = np.zeros((n, 8, 9), np.float32)
    d[..., 4] = 1
    return {"X": np.full((n, 8, 64, 64, 3), 0.5, np.float32), "A": a, "D": d}


def _legacy_case(case: str) -> tuple[str, np.ndarray]:
    """The array (key, value) that replaces a valid one for the bad-value case ``case``."""
    good = _legacy_arrays()
    if case == "X all NaN":
        return "X", np.full_like(good["X"], np.nan)
    if case == "X inf":
        x = good["X"].copy()
        x[1, 3, 5, 5, 0] = np.inf
        return "X", x
    if case == "X in 0-255":
        return "X", good["X"] * 255
    if case == "A strings":
        return "A", good["A"].astype(int).astype(str)
    if case == "A all NaN":
        return "A", np.full_like(good["A"], np.nan)
    if case == "A two ones":
        a = good["A"].copy()
        a[2, :, 3, 0] = 1
        return "A", a
    if case == "D all zero":
        return "D", np.zeros_like(good["D"])
    return "D", good["D"].astype(np.complex64)  # "D complex"


@pytest.mark.parametrize(
    ("case", "words"),
    [
        ("X all NaN", r"sprites_X_train\.npy: clip 0 has the value nan; expected float frames"),
        ("X inf", r"sprites_X_train\.npy: clip 1 has the value inf"),
        ("X in 0-255", r"sprites_X_train\.npy: clip 0 has the value 127\.5; .*\[0, 1\]"),
        ("A strings", r"sprites_A_train\.npy has dtype <U\d+; expected one-hot numbers"),
        ("A all NaN", r"sprites_A_train\.npy: clip 0 has skin values \(nan, "),
        ("A two ones", r"sprites_A_train\.npy: clip 2 has hair values \(1, 0, 1, 0, 0, 0\)"),
        ("D all zero", r"sprites_D_train\.npy: clip 0 has action values \(0, 0, 0"),
        ("D complex", r"sprites_D_train\.npy has dtype complex64"),
    ],
)
def test_legacy_bad_values_are_one_sentence(
    tmp_path: Path, fresh_cache: Path, case: str, words: str
) -> None:
    arrays = _legacy_arrays()
    key, value = _legacy_case(case)
    arrays[key] = value
    for name, array in arrays.items():
        np.save(tmp_path / f"sprites_{name}_train.npy", array)
    with pytest.raises(UnweaveError, match=words):
        load_sprites(tmp_path, "train")
    assert_no_complete_entry(fresh_cache, "sprites-legacy")


def test_legacy_without_clips_is_one_sentence(tmp_path: Path, fresh_cache: Path) -> None:
    for name, array in _legacy_arrays(0).items():
        np.save(tmp_path / f"sprites_{name}_test.npy", array)
    with pytest.raises(UnweaveError, match=r"sprites_X_test\.npy holds no clips"):
        read_legacy_npy(tmp_path, "test")


def test_sheet_claiming_a_huge_size_is_one_sentence(tmp_path: Path, fresh_cache: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGBA", (8, 8)).save(buffer, format="PNG")
    data = buffer.getvalue()
    ihdr = data[12:16] + struct.pack(">II", 100_000, 100_000) + data[24:29]  # width, height
    bomb = data[:12] + ihdr + struct.pack(">I", zlib.crc32(ihdr)) + data[33:]
    for folder in ("body", "bottomwear", "topwear", "hair", "eyes", "shoes"):
        (tmp_path / folder).mkdir()
        for i in range(7):
            (tmp_path / folder / f"{i}.png").write_bytes(bomb)
    with pytest.raises(UnweaveError, match=r"body/0\.png is not a readable image \(Decompression"):
        load_sprites(tmp_path, "train")
    assert_no_complete_entry(fresh_cache, "sprites")

"""3DShapes: the published grid, known answers of the renderer, the build, the h5 reader."""

from __future__ import annotations

import importlib.util
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import rgb_to_hsv

from unweave.data import shapes3d
from unweave.data.ground_truth import grid_factors
from unweave.data.shapes3d import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    FACTOR_VALUES,
    H5_NAME,
    load_shapes3d,
    load_shapes3d_h5,
    render_images,
    render_shapes3d,
)
from unweave.errors import UnweaveError

TINY = (2, 1, 2, 2, 4, 3)  # a leading sub-grid: the first values of each factor
has_h5py = importlib.util.find_spec("h5py") is not None


def hues(factors: list[list[int]]) -> np.ndarray:
    """Hue ``(n, 64, 64)`` of the rendered images of ``factors``."""
    images = render_images(np.array(factors))
    return rgb_to_hsv(images.transpose(0, 2, 3, 1) / 255)[..., 0]


def test_the_published_grid():
    assert FACTOR_NAMES == ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
    assert FACTOR_SIZES == (10, 10, 10, 8, 4, 15)
    assert np.prod(FACTOR_SIZES) == 480000
    assert tuple(FACTOR_VALUES) == FACTOR_NAMES
    assert [len(FACTOR_VALUES[name]) for name in FACTOR_NAMES] == list(FACTOR_SIZES)
    np.testing.assert_allclose(FACTOR_VALUES["floor_hue"], np.arange(10) / 10)
    np.testing.assert_allclose(FACTOR_VALUES["scale"][[0, -1]], [0.75, 1.25])
    np.testing.assert_allclose(FACTOR_VALUES["orientation"], np.arange(-7, 8) * 30 / 7, atol=1e-12)


def test_images_are_rgb_64x64():
    images = render_images(grid_factors(FACTOR_SIZES)[::47111])
    assert images.shape == (11, 3, 64, 64) and images.dtype == np.uint8
    assert images.std() > 20


@pytest.mark.parametrize("factor", range(6))
def test_each_factor_changes_the_image(factor):
    base = np.array([2, 5, 8, 3, 1, 7])
    others = np.repeat(base[None], FACTOR_SIZES[factor], axis=0)
    others[:, factor] = np.arange(FACTOR_SIZES[factor])
    images = render_images(others).reshape(len(others), -1)
    for value in range(len(images)):
        if value != base[factor]:
            assert (images[value] != images[base[factor]]).any(), (factor, value)


def test_floor_walls_and_object_show_their_hues():
    hue = hues([[2, 5, 8, 3, 0, 7]])[0]
    assert hue[63, 0] == pytest.approx(0.2, abs=0.01)  # floor, bottom left
    assert hue[0, 0] == pytest.approx(0.5, abs=0.01)  # walls, top corners
    assert hue[0, 63] == pytest.approx(0.5, abs=0.01)
    assert hue[36, 32] == pytest.approx(0.8, abs=0.01)  # object, centre


def test_scale_grows_the_object():
    for shape in range(4):
        hue = hues([[0, 5, 3, scale, shape, 7] for scale in range(8)])
        areas = (np.abs(hue - 0.3) < 0.02).sum(axis=(1, 2))
        assert np.all(np.diff(areas) > 0), (shape, areas)


def test_orientation_moves_the_walls_corner_across():
    images = render_images(np.array([[0, 5, 3, 4, 0, o] for o in range(15)])).astype(float)
    brightness = images.sum(axis=1)[:, 2]  # a row above everything but the walls
    corner = np.abs(np.diff(brightness, axis=1)).argmax(axis=1)
    assert np.all(np.diff(corner) > 0) and corner[0] < 20 and corner[-1] > 44
    assert corner[7] == pytest.approx(31, abs=1)  # orientation 0: in the middle


def test_a_batch_renders_as_its_rows_one_by_one():
    factors = grid_factors(FACTOR_SIZES)[[3, 479999, 123456, 3, 250000]]
    one_by_one = np.concatenate([render_images(row[None]) for row in factors])
    np.testing.assert_array_equal(render_images(factors), one_by_one)


def test_bad_factors_are_refused():
    with pytest.raises(UnweaveError, match="factor 'shape' has value 4 in row 1"):
        render_images(np.array([[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 4, 0]]))


@pytest.fixture
def tiny_grid(monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """3DShapes shrunk to the leading 2x1x2x2x4x3 sub-grid, in blocks of 20 images."""
    monkeypatch.setattr(shapes3d, "FACTOR_SIZES", TINY)
    monkeypatch.setattr(shapes3d, "BLOCK", 20)
    return grid_factors(TINY)


def test_the_build_renders_every_row_in_grid_order(fresh_cache: Path, tiny_grid, monkeypatch):
    data = render_shapes3d()
    assert isinstance(data.x, np.memmap) and data.x.shape == (96, 3, 64, 64)
    assert data.factor_sizes == TINY and data.factor_names == list(FACTOR_NAMES)
    np.testing.assert_array_equal(data.factors, tiny_grid)
    np.testing.assert_array_equal(data.x, render_images(tiny_grid))
    assert data.meta["value_names"]["shape"] == ["cube", "cylinder", "sphere", "capsule"]
    factors = data.sample_factors(5, np.random.default_rng(0))
    observed = data.observations_from_factors(factors, np.random.default_rng(0))
    np.testing.assert_allclose(observed, render_images(factors) / np.float32(255))
    monkeypatch.setattr(shapes3d, "render_images", None)  # a second load reads the cache
    np.testing.assert_array_equal(load_shapes3d().x, data.x)


def labels_of(factors: np.ndarray) -> np.ndarray:
    """``(n, 6)`` float64 factor values, as the original file's ``labels``."""
    return np.stack([FACTOR_VALUES[name][factors[:, k]] for k, name in enumerate(FACTOR_NAMES)], 1)


def original_arrays(factors: np.ndarray, **changes: np.ndarray | None) -> dict[str, np.ndarray]:
    """The datasets of a 3dshapes.h5 for ``factors``, some changed or dropped."""
    arrays = {
        "images": render_images(factors).transpose(0, 2, 3, 1),
        "labels": labels_of(factors),
        **changes,
    }
    return {key: value for key, value in arrays.items() if value is not None}


BROKEN = [
    ({"images": None}, r"no dataset 'images'; expected 'images' of shape \(96, 64, 64, 3\)"),
    ({"labels": None}, r"no dataset 'labels'; expected 'labels' of shape \(96, 6\)"),
    (
        {"images": np.zeros((96, 3, 64, 64), np.uint8)},
        r"dataset 'images' has shape \(96, 3, 64, 64\) and dtype uint8; expected shape "
        r"\(96, 64, 64, 3\)",
    ),
    ({"labels": np.zeros((96, 6), np.int64)}, "dataset 'labels' has .* dtype int64"),
    ({"labels": np.zeros((95, 6))}, r"dataset 'labels' has shape \(95, 6\)"),
    (
        {"labels": labels_of(grid_factors(TINY)) + [0, 0, 0.05, 0, 0, 0]},
        "dataset 'labels': factor 'object_hue' has value 0.05 in row 0; expected one of the "
        "published values 0, 0.1,",
    ),
    (
        {"labels": labels_of(grid_factors(TINY)[::-1])},
        r"dataset 'labels' has \[0.1, 0.0, 0.1, .*\] in row 0; expected the published order",
    ),
]


class FakeH5File:
    """The part of ``h5py.File`` the reader uses, over an npz: ``in``, ``[key]``, closing."""

    def __init__(self, path: Path, mode: str) -> None:
        assert mode == "r"
        with np.load(path) as data:
            self.datasets = {key: data[key] for key in data.files}

    def __enter__(self) -> FakeH5File:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __contains__(self, key: str) -> bool:
        return key in self.datasets

    def __getitem__(self, key: str) -> np.ndarray:
        return self.datasets[key]


@pytest.fixture
def fake_h5py(monkeypatch: pytest.MonkeyPatch) -> None:
    """An ``h5py`` module whose ``File`` reads npz files, to test the reader's checks anywhere."""
    monkeypatch.setitem(sys.modules, "h5py", types.SimpleNamespace(File=FakeH5File))


def test_h5_reader_reads_the_original_layout(fresh_cache: Path, tiny_grid, fake_h5py, tmp_path):
    path = tmp_path / H5_NAME
    with path.open("wb") as handle:
        np.savez(handle, **original_arrays(tiny_grid))
    data = load_shapes3d_h5(path)
    assert data.x.shape == (96, 3, 64, 64) and data.meta["source"] == str(path)
    np.testing.assert_array_equal(data.x, render_images(tiny_grid))
    np.testing.assert_array_equal(load_shapes3d(tmp_path).x, data.x)  # a folder holding it


@pytest.mark.parametrize(("changes", "message"), BROKEN)
def test_h5_reader_names_the_file_dataset_and_shape(
    fresh_cache: Path, tiny_grid, fake_h5py, tmp_path: Path, changes, message
):
    path = tmp_path / "broken.h5"
    with path.open("wb") as handle:
        np.savez(handle, **original_arrays(tiny_grid, **changes))
    with pytest.raises(UnweaveError, match=f"{re.escape(str(path))}: {message}"):
        load_shapes3d_h5(path)


@pytest.mark.skipif(not has_h5py, reason="h5py is not installed (an optional reader dependency)")
def test_h5_reader_on_a_real_hdf5_file(fresh_cache: Path, tiny_grid, tmp_path: Path):
    import h5py

    for name, changes in (("good.h5", {}), ("broken.h5", {"labels": None})):
        with h5py.File(tmp_path / name, "w") as file:
            for key, value in original_arrays(tiny_grid, **changes).items():
                file.create_dataset(key, data=value)
    np.testing.assert_array_equal(
        load_shapes3d_h5(tmp_path / "good.h5").x, render_images(tiny_grid)
    )
    with pytest.raises(UnweaveError, match="broken.h5: no dataset 'labels'"):
        load_shapes3d_h5(tmp_path / "broken.h5")
    (tmp_path / "text.h5").write_text("not hdf5")
    with pytest.raises(UnweaveError, match="text.h5: not an HDF5 file"):
        load_shapes3d_h5(tmp_path / "text.h5")


def test_h5_reader_says_how_to_get_h5py(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / H5_NAME
    path.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now fails
    with pytest.raises(UnweaveError, match=r"needs the h5py package: pip install 'unweave\[h5\]'"):
        load_shapes3d_h5(path)
    with pytest.raises(UnweaveError, match=f"missing.h5: file not found; expected .*{H5_NAME}"):
        load_shapes3d_h5(tmp_path / "missing.h5")

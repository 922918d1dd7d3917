"""dSprites: the published grid, known answers of the renderer, the build, the npz reader."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from unweave.data import dsprites
from unweave.data.dsprites import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    FACTOR_VALUES,
    NPZ_NAME,
    load_dsprites,
    load_dsprites_npz,
    render_dsprites,
    render_images,
    shape_masks,
)
from unweave.data.ground_truth import grid_factors
from unweave.errors import UnweaveError

SQUARE, ELLIPSE, HEART = 0, 1, 2
TINY = (1, 3, 2, 3, 4, 5)  # a leading sub-grid: the first values of each factor


def image(shape=SQUARE, scale=5, orientation=0, x=16, y=16) -> np.ndarray:
    """One rendered image ``(64, 64)`` as bool."""
    return render_images(np.array([[0, shape, scale, orientation, x, y]]))[0, 0] > 0


def centre(mask: np.ndarray) -> tuple[float, float]:
    """Centre of mass (column, row) of a mask."""
    rows, columns = np.nonzero(mask)
    return columns.mean(), rows.mean()


def test_the_published_grid():
    assert FACTOR_NAMES == ("color", "shape", "scale", "orientation", "posX", "posY")
    assert FACTOR_SIZES == (1, 3, 6, 40, 32, 32)
    assert np.prod(FACTOR_SIZES) == 737280
    assert tuple(FACTOR_VALUES) == FACTOR_NAMES
    assert [len(FACTOR_VALUES[name]) for name in FACTOR_NAMES] == list(FACTOR_SIZES)
    np.testing.assert_allclose(FACTOR_VALUES["scale"], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    np.testing.assert_allclose(FACTOR_VALUES["orientation"][[0, -1]], [0, 2 * np.pi])
    np.testing.assert_allclose(FACTOR_VALUES["posX"], np.arange(32) / 31)


def test_images_are_binary_64x64():
    images = render_images(grid_factors(FACTOR_SIZES)[::9973])
    assert images.shape == (74, 1, 64, 64) and images.dtype == np.uint8
    assert set(np.unique(images)) == {0, 255}


@pytest.mark.parametrize("factor", range(1, 6))
def test_each_factor_changes_the_image(factor):
    """Two images that differ in one factor differ (a heart: the square and the ellipse look
    the same after a quarter and a half turn)."""
    base = np.array([0, HEART, 2, 7, 10, 20])
    for value in range(FACTOR_SIZES[factor]):
        if value != base[factor]:
            other = base.copy()
            other[factor] = value
            assert (image(*base[1:]) != image(*other[1:])).any(), (factor, value)


def test_square_at_orientation_zero_is_axis_aligned():
    mask = image(SQUARE, orientation=0)
    rows, columns = np.nonzero(mask)
    box = (rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1)
    assert mask.sum() == box  # fills its bounding box
    assert rows.max() - rows.min() == columns.max() - columns.min()
    turned = image(SQUARE, orientation=3)
    rows, columns = np.nonzero(turned)
    assert turned.sum() < (rows.max() - rows.min() + 1) * (columns.max() - columns.min() + 1)


def test_orientation_turns_counter_clockwise_and_wraps_around():
    np.testing.assert_array_equal(image(HEART, orientation=0), image(HEART, orientation=39))
    ellipse = image(ELLIPSE, orientation=2)  # 18 degrees: the right end rises
    rows, columns = np.nonzero(ellipse)
    assert rows[columns == columns.max()].mean() < rows[columns == columns.min()].mean()


def test_heart_is_upright_and_mirror_symmetric():
    mask = shape_masks(np.array([HEART]), np.array([5]), np.array([0]))[0]
    np.testing.assert_array_equal(mask, mask[:, ::-1])
    rows, columns = np.nonzero(mask)
    assert (rows == rows.max()).sum() < (rows == rows.min()).sum() / 2  # the point is down


def test_shapes_are_centred_on_their_position():
    for shape in (SQUARE, ELLIPSE, HEART):
        for orientation in (0, 13, 26):
            column, row = centre(image(shape, orientation=orientation, x=16, y=16))
            assert column == pytest.approx(32, abs=0.6) and row == pytest.approx(32, abs=0.6)


def test_positions_move_the_shape_one_pixel_a_step():
    columns = [centre(image(HEART, x=x))[0] for x in range(32)]
    rows = [centre(image(HEART, y=y))[1] for y in range(32)]
    np.testing.assert_allclose(np.diff(columns), 1)  # posX moves right
    np.testing.assert_allclose(np.diff(rows), 1)  # posY moves down


def test_scale_grows_the_area():
    for shape in (SQUARE, ELLIPSE, HEART):
        areas = [image(shape, scale=scale, orientation=5).sum() for scale in range(6)]
        assert np.all(np.diff(areas) > 0), areas


def test_the_largest_shapes_stay_inside_the_image():
    """Every turn of every shape at scale 1 leaves the patch border empty, so at the extreme
    positions nothing is cut off."""
    n = 3 * 40
    masks = shape_masks(np.repeat(np.arange(3), 40), np.full(n, 5), np.tile(np.arange(40), 3))
    border = masks[:, 0].any() | masks[:, -1].any() | masks[:, :, 0].any() | masks[:, :, -1].any()
    assert not border
    corner = image(HEART, x=31, y=31)
    assert corner.sum() == image(HEART, x=16, y=16).sum()


def test_mean_pixel_value_is_that_of_the_original():
    rows = np.random.default_rng(0).choice(737280, 3000, replace=False)
    mean = render_images(grid_factors(FACTOR_SIZES)[rows]).mean() / 255
    assert mean == pytest.approx(0.043, abs=0.003)


def test_a_batch_renders_as_its_rows_one_by_one():
    factors = grid_factors(FACTOR_SIZES)[[5, 737279, 123456, 5, 400000, 99]]
    one_by_one = np.concatenate([render_images(row[None]) for row in factors])
    np.testing.assert_array_equal(render_images(factors), one_by_one)


def test_bad_factors_are_refused():
    with pytest.raises(UnweaveError, match="factor 'orientation' has value 40 in row 0"):
        render_images(np.array([[0, 0, 0, 40, 0, 0]]))


@pytest.fixture
def tiny_grid(monkeypatch: pytest.MonkeyPatch) -> np.ndarray:
    """dSprites shrunk to the leading 1x3x2x3x4x5 sub-grid, in blocks of 64 images."""
    monkeypatch.setattr(dsprites, "FACTOR_SIZES", TINY)
    monkeypatch.setattr(dsprites, "BLOCK", 64)
    return grid_factors(TINY)


def test_the_build_renders_every_row_in_grid_order(fresh_cache: Path, tiny_grid, monkeypatch):
    data = render_dsprites()
    assert isinstance(data.x, np.memmap) and data.x.shape == (360, 1, 64, 64)
    assert data.factor_sizes == TINY and data.factor_names == list(FACTOR_NAMES)
    np.testing.assert_array_equal(data.factors, tiny_grid)
    np.testing.assert_array_equal(data.x, render_images(tiny_grid))
    assert data.meta["value_names"]["shape"] == ["square", "ellipse", "heart"]
    assert data.meta["factor_values"]["posY"] == FACTOR_VALUES["posY"][:5].tolist()
    factors = data.sample_factors(7, np.random.default_rng(0))
    observed = data.observations_from_factors(factors, np.random.default_rng(0))
    np.testing.assert_array_equal(observed, render_images(factors) / np.float32(255))
    monkeypatch.setattr(dsprites, "render_images", None)  # a second load reads the cache
    loaded = load_dsprites()
    np.testing.assert_array_equal(loaded.x, data.x)
    # the single colour is not a factor for the metrics (disentanglement_lib's indices 1-5)
    assert loaded.factor_names == list(FACTOR_NAMES[1:]) and loaded.factor_sizes == TINY[1:]
    np.testing.assert_array_equal(loaded.factors, tiny_grid[:, 1:])
    np.testing.assert_array_equal(
        loaded.observations_from_factors(factors[:, 1:], np.random.default_rng(0)), observed
    )


def write_npz(path: Path, factors: np.ndarray, **changes: np.ndarray | None) -> Path:
    """An npz laid out like the original (with its pickled metadata), keys changed or dropped."""
    arrays = {
        "imgs": (render_images(factors)[:, 0] // 255).astype(np.uint8),
        "latents_classes": factors,
        "latents_values": factors.astype(np.float64),
        "metadata": np.array({"latents_sizes": np.array(TINY)}, dtype=object),
        **changes,
    }
    np.savez_compressed(path, **{key: value for key, value in arrays.items() if value is not None})
    return path


def test_npz_reader_reads_the_original_layout(fresh_cache: Path, tiny_grid, tmp_path: Path):
    path = write_npz(tmp_path / NPZ_NAME, tiny_grid)
    data = load_dsprites_npz(path)
    assert data.x.shape == (360, 1, 64, 64) and data.meta["source"] == str(path)
    np.testing.assert_array_equal(data.x, render_images(tiny_grid))  # 0/1 scaled to 0/255
    np.testing.assert_array_equal(load_dsprites(tmp_path).x, data.x)  # a folder holding it


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"imgs": None}, r"no key 'imgs'; expected 'imgs' of shape \(360, 64, 64\)"),
        (
            {"latents_classes": None},
            r"no key 'latents_classes'; expected 'latents_classes' of shape \(360, 6\)",
        ),
        ({"latents_values": None}, "no key 'latents_values'"),
        (
            {"imgs": np.zeros((360, 32, 32), np.uint8)},
            r"key 'imgs' has shape \(360, 32, 32\) and dtype uint8; expected shape \(360, 64, 64\)",
        ),
        (
            {"imgs": np.zeros((360, 64, 64), np.float32)},
            "key 'imgs' has shape .* and dtype float32; expected shape .* \\(uint8\\)",
        ),
        (
            {"latents_classes": np.zeros((360, 5), np.int64)},
            r"key 'latents_classes' has shape \(360, 5\)",
        ),
        (
            {"latents_classes": grid_factors(TINY)[::-1]},
            r"key 'latents_classes' has \[0, 2, 1, 2, 3, 4\] in row 0; expected the published",
        ),
        ({"imgs": np.full((360, 64, 64), 255, np.uint8)}, "key 'imgs' has pixel value 255"),
    ],
)
def test_npz_reader_names_the_file_key_and_shape(
    fresh_cache: Path, tiny_grid, tmp_path: Path, changes, message
):
    path = write_npz(tmp_path / "broken.npz", tiny_grid, **changes)
    with pytest.raises(UnweaveError, match=f"{re.escape(str(path))}: {message}"):
        load_dsprites_npz(path)
    entries = fresh_cache / "dsprites-npz"
    assert not entries.exists() or not any(entries.iterdir())  # nothing half-written


def test_npz_reader_refuses_other_files(tmp_path: Path):
    with pytest.raises(UnweaveError, match=f"missing.npz: file not found; expected .*{NPZ_NAME}"):
        load_dsprites_npz(tmp_path / "missing.npz")
    text = tmp_path / "text.npz"
    text.write_text("not an archive")
    with pytest.raises(UnweaveError, match="text.npz: not an .npz archive"):
        load_dsprites_npz(text)

"""GroundTruthImages: grid lookup, factor checks, and the cache writer the image sets share."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unweave.data.ground_truth import (
    GroundTruthImages,
    cached_images,
    factor_indices,
    grid_factors,
    read_rows,
)
from unweave.errors import UnweaveError
from unweave.metrics.classic import compute_mig

SIZES = (2, 3, 4)


def coded_images(dtype: type = np.float32) -> GroundTruthImages:
    """A 2x3x4 grid whose image ``(3, 1, 1)`` holds its own factor values (over 10)."""
    factors = grid_factors(SIZES)
    x = factors[:, :, None, None] / 10
    x = (x * 255).round().astype(np.uint8) if dtype == np.uint8 else x.astype(np.float32)
    return GroundTruthImages(x, factors, ["a", "b", "c"], SIZES, name="coded")


def test_grid_factors_is_factor_major():
    factors = grid_factors(SIZES)
    assert factors.shape == (24, 3) and factors.dtype == np.int64
    assert factors[:5].tolist() == [[0, 0, 0], [0, 0, 1], [0, 0, 2], [0, 0, 3], [0, 1, 0]]
    rows = np.ravel_multi_index(tuple(factors.T), SIZES)
    np.testing.assert_array_equal(rows, np.arange(24))


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_observations_are_the_images_of_the_factors(dtype):
    data = coded_images(dtype)
    factors = np.array([[1, 2, 3], [0, 0, 0], [1, 0, 2], [1, 2, 3]])
    images = data.observations_from_factors(factors, np.random.default_rng(0))
    assert images.shape == (4, 3, 1, 1) and images.dtype == np.float32
    np.testing.assert_allclose(images[:, :, 0, 0], factors / 10, atol=0.5 / 255)
    assert len(data) == 24


def test_sampled_factors_cover_each_range():
    factors = coded_images().sample_factors(2000, np.random.default_rng(0))
    assert factors.shape == (2000, 3) and factors.dtype == np.int64
    for column, size in enumerate(SIZES):
        assert set(factors[:, column]) == set(range(size))


def test_satisfies_the_metrics_protocol():
    """MIG of the identity on images that show their factors is ~1 (one code per factor)."""
    scores = compute_mig(lambda x: x.reshape(len(x), -1), coded_images(), 0, num_train=500)
    assert scores["mig"] > 0.95


@pytest.mark.parametrize(
    ("factors", "message"),
    [
        (np.zeros((5, 2), np.int64), r"coded: factors has shape \(5, 2\); expected \(n, 3\)"),
        (np.zeros(3, np.int64), r"factors has shape \(3,\); expected \(n, 3\)"),
        (np.zeros((5, 3)), "factors has dtype float64; expected integers"),
        (np.array([[0, 0, 0], [1, 3, 0]]), "factor 'b' has value 3 in row 1; expected 0 to 2"),
        (np.array([[0, 0, -1]]), "factor 'c' has value -1 in row 0; expected 0 to 3"),
    ],
)
def test_bad_factors_are_named(factors, message):
    with pytest.raises(UnweaveError, match=message):
        coded_images().observations_from_factors(factors, np.random.default_rng(0))


def test_factor_index_names_the_known_factors():
    data = coded_images()
    assert [data.factor_index(name) for name in "abc"] == [0, 1, 2]
    with pytest.raises(UnweaveError, match="unknown factor 'x'; expected one of: a, b, c"):
        data.factor_index("x")


def test_images_must_cover_the_grid():
    factors = grid_factors(SIZES)
    with pytest.raises(
        UnweaveError, match=r"x has shape \(23, 1, 2, 2\); expected \(24, C, H, W\)"
    ):
        GroundTruthImages(np.zeros((23, 1, 2, 2), np.uint8), factors, list("abc"), SIZES, "g")
    with pytest.raises(UnweaveError, match="2 factor_names for 3 factor_sizes"):
        GroundTruthImages(np.zeros((24, 1, 2, 2), np.uint8), factors, list("ab"), SIZES, "g")
    with pytest.raises(UnweaveError, match=r"factors has shape \(24, 2\); expected \(24, 3\)"):
        GroundTruthImages(
            np.zeros((24, 1, 2, 2), np.uint8), factors[:, :2], list("abc"), SIZES, "g"
        )


def test_read_rows_keeps_the_requested_order():
    x = np.arange(10)[:, None] * np.ones((1, 2), int)
    np.testing.assert_array_equal(read_rows(x, np.array([7, 2, 7, 0]))[:, 0], [7, 2, 7, 0])


def test_factor_indices_map_values_to_the_grid():
    grid = np.linspace(-30, 30, 15)
    values = np.array([30.0, -30.0, grid[3] + 1e-7])
    np.testing.assert_array_equal(factor_indices(values, grid, "angle", "f.h5"), [14, 0, 3])
    with pytest.raises(UnweaveError, match="f.h5: factor 'angle' has value 1 in row 1"):
        factor_indices(np.array([0.0, 1.0]), grid, "angle", "f.h5")


def blocks_of(images: np.ndarray, size: int):
    return lambda: (images[i : i + size] for i in range(0, len(images), size))


def test_cached_images_writes_once_and_is_a_memmap(fresh_cache: Path):
    images = np.arange(5 * 3 * 2 * 2, dtype=np.uint8).reshape(5, 3, 2, 2)
    x = cached_images("test-images", {"a": 1}, images.shape, blocks_of(images, 2), "Test")
    assert isinstance(x, np.memmap)
    np.testing.assert_array_equal(x, images)

    def never():
        raise AssertionError("a cached entry is not rebuilt")

    np.testing.assert_array_equal(
        cached_images("test-images", {"a": 1}, images.shape, never, "T"), x
    )


@pytest.mark.parametrize("count", [4, 6])
def test_cached_images_refuses_the_wrong_count(fresh_cache: Path, count: int):
    images = np.zeros((count, 1, 2, 2), np.uint8)
    with pytest.raises(UnweaveError, match="Test: .*; expected 5"):
        cached_images("test-images", {"a": 2}, (5, 1, 2, 2), blocks_of(images, 3), "Test")
    assert not any((fresh_cache / "test-images").iterdir())  # no half-written entry

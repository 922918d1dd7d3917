"""Image data sets with known factors on a full grid (dSprites, 3DShapes).

Every combination of the K factor values appears exactly once, stored in factor-major order
(the last factor varies fastest), so the row of factor values ``f`` is
``np.ravel_multi_index(f, factor_sizes)``. This is what lets the classic metrics turn sampled
factors into observations by lookup (:class:`~unweave.metrics.classic.GroundTruthData`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from unweave.data.cache import cached_build
from unweave.errors import UnweaveError


@dataclass
class GroundTruthImages:
    """Images of every combination of K discrete factors.

    Attributes:
        x: ``(N, C, H, W)`` images, either uint8 in 0-255 (a memmap for the large sets) or
            float32 in [0, 1]; row ``i`` shows the factors of row ``i`` of ``factors``.
        factors: ``(N, K)`` int64 factor values, factor k in ``[0, factor_sizes[k])``, in
            factor-major order (row ``i`` is ``np.unravel_index(i, factor_sizes)``).
        factor_names: the K factor names.
        factor_sizes: number of values of each factor; ``N = prod(factor_sizes)``.
        name: data set name, e.g. ``"dsprites"``.
        split: ``"train"`` (these sets have no published split).
        meta: ``factor_values`` (name -> the K value lists), ``value_names``, ``source``.
    """

    x: np.ndarray
    factors: np.ndarray
    factor_names: list[str]
    factor_sizes: tuple[int, ...]
    name: str
    split: str = "train"
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        where = f"{self.name}/{self.split}"
        k = len(self.factor_sizes)
        n = int(np.prod(self.factor_sizes))
        if len(self.factor_names) != k:
            raise UnweaveError(
                f"{where}: {len(self.factor_names)} factor_names for {k} factor_sizes; "
                "expected one name per factor."
            )
        if self.x.ndim != 4 or len(self.x) != n:
            raise UnweaveError(
                f"{where}: x has shape {tuple(self.x.shape)}; expected ({n}, C, H, W), one "
                f"image per combination of factor_sizes {tuple(self.factor_sizes)}."
            )
        if self.x.dtype not in (np.uint8, np.float32):
            raise UnweaveError(f"{where}: x has dtype {self.x.dtype}; expected uint8 or float32.")
        if self.factors.shape != (n, k):
            raise UnweaveError(
                f"{where}: factors has shape {self.factors.shape}; expected ({n}, {k})."
            )

    @classmethod
    def on_grid(
        cls,
        x: np.ndarray,
        name: str,
        factor_values: dict[str, np.ndarray],
        factor_sizes: Sequence[int],
        value_names: dict[str, list[str]],
        source: str,
    ) -> GroundTruthImages:
        """The images ``x`` of the leading ``factor_sizes`` values of each factor.

        ``factor_values`` maps each factor name, in order, to its published values; only the
        first ``factor_sizes[k]`` of factor k are in ``x`` (all of them for the full set).
        """
        sizes = tuple(int(size) for size in factor_sizes)
        values = {
            key: np.asarray(grid)[:size].tolist()
            for (key, grid), size in zip(factor_values.items(), sizes, strict=True)
        }
        return cls(
            x=x,
            factors=grid_factors(sizes),
            factor_names=list(factor_values),
            factor_sizes=sizes,
            name=name,
            meta={
                "factor_values": values,
                "value_names": {
                    key: names[: len(values[key])] for key, names in value_names.items()
                },
                "source": source,
            },
        )

    def __len__(self) -> int:
        return len(self.x)

    def varying(self) -> GroundTruthImages:
        """The same images with the factors of a single value dropped (dSprites' colour), as
        disentanglement_lib's ``DSprites(latent_factor_indices=[1, 2, 3, 4, 5])``: the metrics
        need every factor to vary. The row order is unchanged (a size-1 factor adds nothing to
        the index)."""
        keep = [k for k, size in enumerate(self.factor_sizes) if size > 1]
        names = [self.factor_names[k] for k in keep]
        return dataclasses.replace(
            self,
            factors=self.factors[:, keep],
            factor_names=names,
            factor_sizes=tuple(self.factor_sizes[k] for k in keep),
            meta={
                **self.meta,
                "factor_values": {
                    k: v for k, v in self.meta.get("factor_values", {}).items() if k in names
                },
            },
        )

    def factor_index(self, name: str) -> int:
        """The column of factor ``name`` in ``factors``; UnweaveError for an unknown name."""
        if name not in self.factor_names:
            raise UnweaveError(
                f"{self.name}: unknown factor '{name}'; expected one of: "
                f"{', '.join(self.factor_names)}."
            )
        return self.factor_names.index(name)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, K)`` int64 factors drawn uniformly and independently."""
        return rng.integers(0, self.factor_sizes, size=(n, len(self.factor_sizes)), dtype=np.int64)

    def observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """``(n, C, H, W)`` float32 images in [0, 1] of ``(n, K)`` factors (``rng`` is unused:
        every combination has one image)."""
        factors = check_factors(factors, self.factor_names, self.factor_sizes, self.name)
        rows = np.ravel_multi_index(tuple(factors.T), self.factor_sizes)
        return to_float(read_rows(self.x, rows))


def as_split(data: GroundTruthImages, split: str) -> GroundTruthImages:
    """``data`` labelled ``split``. These sets have no published split: as in
    disentanglement_lib, models train on the whole grid and the metrics sample from it, so
    ``"train"`` and ``"test"`` are the same images."""
    if split not in ("train", "test"):
        raise UnweaveError(f"Unknown split '{split}'; expected 'train' or 'test'.")
    return dataclasses.replace(data, split=split)


def check_factors(
    factors: np.ndarray, names: Sequence[str], sizes: Sequence[int], where: str
) -> np.ndarray:
    """``factors`` as ``(n, K)`` int64 after checking its shape, dtype and value ranges."""
    factors = np.asarray(factors)
    k = len(sizes)
    if factors.ndim != 2 or factors.shape[1] != k:
        raise UnweaveError(
            f"{where}: factors has shape {factors.shape}; expected (n, {k}), one column per "
            f"factor ({', '.join(names)})."
        )
    if not np.issubdtype(factors.dtype, np.integer):
        raise UnweaveError(f"{where}: factors has dtype {factors.dtype}; expected integers.")
    for column, (name, size) in enumerate(zip(names, sizes, strict=True)):
        bad = np.flatnonzero((factors[:, column] < 0) | (factors[:, column] >= size))
        if len(bad):
            raise UnweaveError(
                f"{where}: factor '{name}' has value {factors[bad[0], column]} in row "
                f"{bad[0]}; expected 0 to {size - 1}."
            )
    return factors.astype(np.int64)


def to_float(images: np.ndarray) -> np.ndarray:
    """uint8 0-255 images as float32 in [0, 1]; float32 images unchanged."""
    if images.dtype == np.uint8:
        return images.astype(np.float32) / np.float32(255)
    return images


def read_rows(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``x[rows]``, read from a memmap in ascending row order (one pass over the file)."""
    order = np.argsort(rows, kind="stable")
    out = np.empty((len(rows), *x.shape[1:]), x.dtype)
    out[order] = x[rows[order]]
    return out


def grid_factors(factor_sizes: Sequence[int]) -> np.ndarray:
    """``(prod(factor_sizes), K)`` int64: every factor combination in factor-major order."""
    rows = np.arange(int(np.prod(factor_sizes)))
    return np.stack(np.unravel_index(rows, tuple(factor_sizes)), axis=1).astype(np.int64)


def factor_indices(values: np.ndarray, grid: np.ndarray, name: str, where: str) -> np.ndarray:
    """``(n,)`` int64 index of the nearest ``grid`` value to each of the ``(n,)`` ``values``.

    Raises UnweaveError naming ``where`` and factor ``name`` when a value is not on the grid
    (within 1e-4 of the grid's range).
    """
    grid = np.asarray(grid, dtype=np.float64)
    index = np.abs(values[:, None] - grid[None, :]).argmin(axis=1)
    off = np.flatnonzero(np.abs(values - grid[index]) > 1e-4 * max(1.0, np.ptp(grid)))
    if len(off):
        raise UnweaveError(
            f"{where}: factor '{name}' has value {values[off[0]]:g} in row {off[0]}; expected "
            f"one of the published values {', '.join(f'{v:g}' for v in grid)}."
        )
    return index.astype(np.int64)


def check_stored_array(
    path: Path, entry: str, shape: tuple, dtype: np.dtype, expected: tuple, kind: str
) -> None:
    """One sentence when ``entry`` of file ``path`` (e.g. ``key 'imgs'``) has not the
    ``expected`` shape or a dtype of ``kind`` (a numpy type name: uint8, integer, floating)."""
    if shape != expected or not np.issubdtype(dtype, getattr(np, kind)):
        raise UnweaveError(
            f"{path}: {entry} has shape {shape} and dtype {dtype}; expected shape "
            f"{expected} ({kind})."
        )


def cached_images(
    kind: str,
    params: dict,
    shape: tuple[int, int, int, int],
    blocks: Callable[[], Iterable[np.ndarray]],
    desc: str,
) -> np.ndarray:
    """A uint8 ``(N, C, H, W)`` memmap cached as ``x.npy`` under ``(kind, params)``.

    On a cache miss ``blocks()`` yields consecutive uint8 ``(n_i, C, H, W)`` blocks of rows
    that together make the N images; a progress bar counts them. An exception while building
    leaves no cache entry behind.
    """

    def build(folder: Path) -> None:
        x = np.lib.format.open_memmap(folder / "x.npy", mode="w+", dtype=np.uint8, shape=shape)
        start = 0
        with tqdm(total=shape[0], desc=desc, unit="image") as bar:
            for block in blocks():
                stop = start + len(block)
                if stop > shape[0]:
                    raise UnweaveError(f"{desc}: over {shape[0]} images; expected {shape[0]}.")
                x[start:stop] = block
                bar.update(stop - start)
                start = stop
        x.flush()
        del x
        if start != shape[0]:
            raise UnweaveError(f"{desc}: {start} images; expected {shape[0]}.")

    folder = cached_build(kind, params, build)
    return np.load(folder / "x.npy", mmap_mode="r")


class ImageTorchDataset(torch.utils.data.Dataset):
    """Serves ``{"x": (C, H, W) image as stored (uint8 or float32), "index": ()}`` of a
    :class:`GroundTruthImages`; the model's ``batch_inputs`` makes floats in [0, 1]."""

    def __init__(self, data: GroundTruthImages) -> None:
        self.x = data.x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"x": torch.from_numpy(np.array(self.x[index])), "index": torch.tensor(index)}


def rendered_grid(
    kind: str,
    params: dict,
    factor_sizes: Sequence[int],
    channels: int,
    render: Callable[[np.ndarray], np.ndarray],
    block: int,
    desc: str,
) -> np.ndarray:
    """The uint8 images ``(N, channels, 64, 64)`` of every row of the factor grid, drawn by
    ``render(factors (n, K)) -> (n, channels, 64, 64)`` ``block`` rows at a time and cached
    under ``(kind, params)``."""
    factors = grid_factors(factor_sizes)

    def blocks() -> Iterable[np.ndarray]:
        for start in range(0, len(factors), block):
            yield render(factors[start : start + block])

    return cached_images(kind, params, (len(factors), channels, 64, 64), blocks, desc)

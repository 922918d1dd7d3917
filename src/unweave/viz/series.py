"""Figures for multivariate time series: reconstructions and static-code swaps, saved as PNG.

Arrays are numpy: series ``(N, T, F)`` floats, masks ``(N, T, F)`` bools (True = observed).
Drawing uses matplotlib's Agg canvas through :func:`unweave.viz.plots.save_figure` (no
pyplot, no global state), which writes each file whole.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from unweave.errors import UnweaveError
from unweave.viz.plots import save_figure

DATA_COLOUR = "#1f77b4"
RECON_COLOUR = "#d62728"
STATIC_COLOUR = "#1f77b4"
DYNAMIC_COLOUR = "#2ca02c"
SWAPPED_COLOUR = "#d62728"
WINDOW_COLOUR = "#888888"


def _series(name: str, array: object) -> np.ndarray:
    """``array`` as a numpy array of shape ``(N, T, F)`` with N, T, F >= 1, else UnweaveError."""
    array = np.asarray(array)
    if array.ndim != 3 or 0 in array.shape:
        raise UnweaveError(
            f"Argument '{name}' has shape {array.shape}; expected (N, T, F) with N, T, F >= 1."
        )
    return array


def _same_shape(name: str, array: np.ndarray, ref_name: str, ref: np.ndarray) -> None:
    """Raise UnweaveError unless ``array`` has the shape of ``ref``."""
    if array.shape != ref.shape:
        raise UnweaveError(
            f"Argument '{name}' has shape {array.shape}; expected the shape of "
            f"'{ref_name}', {ref.shape}."
        )


def _names(feature_names: Sequence[str], n_features: int) -> list[str]:
    """``feature_names`` as a list of F strings, else UnweaveError."""
    if isinstance(feature_names, str) or len(feature_names) != n_features:
        got = "a string" if isinstance(feature_names, str) else f"{len(feature_names)} names"
        raise UnweaveError(
            f"Argument 'feature_names' has {got}; expected {n_features} names, one per feature."
        )
    return [str(name) for name in feature_names]


def _count(name: str, value: int, available: int) -> int:
    """A positive count clipped to ``available``, else UnweaveError."""
    try:
        value = operator.index(value)
    except TypeError:
        raise UnweaveError(f"Argument '{name}' is {value!r}; expected an integer >= 1.") from None
    if value < 1:
        raise UnweaveError(f"Argument '{name}' is {value}; expected an integer >= 1.")
    return min(value, available)


def _window(window: int | None) -> int | None:
    """``window`` as a positive int or None, else UnweaveError."""
    if window is None:
        return None
    try:
        value = operator.index(window)
    except TypeError:
        raise UnweaveError(
            f"Argument 'window' is {window!r}; expected None or an integer >= 1."
        ) from None
    if value < 1:
        raise UnweaveError(f"Argument 'window' is {value}; expected None or an integer >= 1.")
    return value


def _draw_windows(ax: Axes, window: int | None, length: int) -> None:
    """Faint vertical lines at the window boundaries ``window, 2*window, ... < length``."""
    if window is None:
        return
    for boundary in range(window, length, window):
        ax.axvline(boundary - 0.5, color=WINDOW_COLOUR, linewidth=0.8, alpha=0.6, zorder=0)


def plot_reconstructions(
    x: np.ndarray,
    mask: np.ndarray,
    recon: np.ndarray,
    feature_names: Sequence[str],
    path: str | Path,
    window: int | None = None,
    n_series: int = 3,
    max_features: int = 4,
    title: str | None = None,
) -> Path:
    """Grid of series (rows) by features (columns): observed data against the reconstruction.

    ``x``, ``recon``: ``(N, T, F)`` floats; ``mask``: ``(N, T, F)`` bools, True = observed.
    Only observed values of ``x`` are drawn (dots joined by a thin line, broken at gaps);
    ``window`` adds faint boundaries every ``window`` steps. Returns the PNG's path.
    """
    x = _series("x", x)
    mask = _series("mask", mask)
    recon = _series("recon", recon)
    _same_shape("mask", mask, "x", x)
    _same_shape("recon", recon, "x", x)
    n, length, n_features = x.shape
    names = _names(feature_names, n_features)
    rows = _count("n_series", n_series, n)
    cols = _count("max_features", max_features, n_features)
    window = _window(window)

    observed = mask.astype(bool)
    steps = np.arange(length)
    figure = Figure(figsize=(3.2 * cols, 1.9 * rows + 0.7), layout="constrained")
    if title:
        figure.suptitle(title, fontsize=11)
    axes = figure.subplots(rows, cols, squeeze=False, sharex=True)
    for i in range(rows):
        for f in range(cols):
            ax = axes[i, f]
            _draw_windows(ax, window, length)
            seen = observed[i, :, f] & np.isfinite(x[i, :, f])
            # NaN where unobserved: matplotlib breaks the line there instead of joining gaps.
            line = np.where(seen, x[i, :, f], np.nan)
            ax.plot(steps, line, color=DATA_COLOUR, linewidth=0.6, alpha=0.6)
            ax.plot(steps[seen], x[i, seen, f], ".", color=DATA_COLOUR, markersize=3)
            ax.plot(steps, recon[i, :, f], "-", color=RECON_COLOUR, linewidth=1.3)
            if i == 0:
                ax.set_title(names[f], fontsize=9)
            if f == 0:
                ax.set_ylabel(f"series {i}", fontsize=8)
            if i == rows - 1:
                ax.set_xlabel("time step", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.25)
    handles = [
        Line2D([], [], color=DATA_COLOUR, marker=".", linewidth=0.6, label="data"),
        Line2D([], [], color=RECON_COLOUR, linewidth=1.3, label="reconstruction"),
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    return save_figure(figure, path)


def plot_static_swap(
    x_static: np.ndarray,
    x_dynamic: np.ndarray,
    swapped: np.ndarray,
    feature_names: Sequence[str],
    path: str | Path,
    window: int | None = None,
    n_pairs: int = 3,
    feature: int = 0,
    title: str | None = None,
) -> Path:
    """One panel per pair: one feature of the static donor, dynamic donor and swapped decoding.

    ``x_static``, ``x_dynamic``, ``swapped``: ``(N, T, F)`` floats; row ``i`` of ``swapped``
    decodes the static code of ``x_static[i]`` with the dynamic codes of ``x_dynamic[i]``.
    ``feature`` indexes F; ``window`` adds faint boundaries. Returns the PNG's path.
    """
    x_static = _series("x_static", x_static)
    x_dynamic = _series("x_dynamic", x_dynamic)
    swapped = _series("swapped", swapped)
    _same_shape("x_dynamic", x_dynamic, "x_static", x_static)
    _same_shape("swapped", swapped, "x_static", x_static)
    n, length, n_features = x_static.shape
    names = _names(feature_names, n_features)
    rows = _count("n_pairs", n_pairs, n)
    window = _window(window)
    try:
        f = operator.index(feature)
    except TypeError:
        f = -1
    if isinstance(feature, bool) or not 0 <= f < n_features:
        raise UnweaveError(
            f"Argument 'feature' is {feature!r}; expected an index in [0, {n_features - 1}] "
            f"for series of shape {x_static.shape}."
        )

    steps = np.arange(length)
    figure = Figure(figsize=(6.4, 1.9 * rows + 0.7), layout="constrained")
    if title:
        figure.suptitle(title, fontsize=11)
    axes = figure.subplots(rows, 1, squeeze=False, sharex=True)[:, 0]
    for i, ax in enumerate(axes):
        _draw_windows(ax, window, length)
        ax.plot(steps, x_static[i, :, f], "--", color=STATIC_COLOUR, linewidth=1.0)
        ax.plot(steps, x_dynamic[i, :, f], ":", color=DYNAMIC_COLOUR, linewidth=1.2)
        ax.plot(steps, swapped[i, :, f], "-", color=SWAPPED_COLOUR, linewidth=1.5)
        ax.set_title(f"pair {i}: {names[f]}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.25)
    axes[-1].set_xlabel("time step", fontsize=8)
    handles = [
        Line2D([], [], linestyle="--", color=STATIC_COLOUR, label="static donor"),
        Line2D([], [], linestyle=":", color=DYNAMIC_COLOUR, label="dynamic donor"),
        Line2D([], [], linestyle="-", color=SWAPPED_COLOUR, linewidth=1.5, label="swapped"),
    ]
    figure.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    return save_figure(figure, path)


def save_static_swap(
    model, test, path: str | Path, n: int = 3
) -> tuple[Path, np.ndarray, np.ndarray]:
    """The first ``n`` series of ``test`` (at most half the split) decoded with the static
    code of series from the other end of the split (posterior means, decoder noise seeded
    0), drawn into ``path`` beside both: ``(png, rows, partners)``. A model without a static
    code is one sentence (:func:`~unweave.models.base.swap_codes`)."""
    import torch

    from unweave.models.base import swap_codes

    rows = np.arange(min(n, len(test) // 2))
    partners = len(test) - 1 - rows
    x, mask = torch.from_numpy(test.x).float(), torch.from_numpy(test.mask)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(0)
        swapped = swap_codes(model, x[rows], x[partners], mask[rows], mask[partners]).numpy()
    png = plot_static_swap(
        test.x[rows], test.x[partners], swapped, list(test.feature_names), path,
        window=getattr(model.config, "window", None), n_pairs=len(rows),
    )  # fmt: skip
    return png, rows, partners

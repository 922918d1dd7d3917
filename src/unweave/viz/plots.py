"""Figures for reports, returned as PNG bytes: loss curves, code embeddings, metric bars.

Everything draws on matplotlib's Agg canvas directly (no pyplot), so importing this module
changes no global matplotlib state and needs no display.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from unweave.errors import UnweaveError

DPI = 100
CATEGORICAL_MAX = 20  # factors with more values get a colour bar instead of a legend
BARS_PER_PANEL = 20  # metrics per panel of the bar chart


def _png(figure: Figure) -> bytes:
    """Render ``figure`` with Agg into PNG bytes (no software metadata)."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def save_figure(figure: Figure, path: str | Path) -> Path:
    """Render ``figure`` to PNG and write it to ``path`` atomically (folders created)."""
    from unweave.viz.swap import _save_atomic

    data = _png(figure)
    path = Path(path)
    _save_atomic(lambda p: p.write_bytes(data), path)
    return path


def read_metrics_csv(metrics_csv: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each logged term of a Lightning ``metrics.csv`` -> ``(steps, values)``, in file order.

    Empty cells (terms not logged on that row) are skipped; ``epoch`` and ``step`` are axes.
    """
    path = Path(metrics_csv)
    if not path.is_file():
        raise UnweaveError(f"{path} is missing; expected the metrics.csv of 'unweave train'.")
    series: dict[str, list[tuple[float, float]]] = {}
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            step = row.get("step") or ""
            if not step.strip():
                continue
            for name, cell in row.items():
                if name in (None, "epoch", "step") or cell is None or not cell.strip():
                    continue
                try:
                    series.setdefault(name, []).append((float(step), float(cell)))
                except ValueError:
                    continue
    return {
        name: (np.array([s for s, _ in points]), np.array([v for _, v in points]))
        for name, points in series.items()
        if points
    }


def loss_curves_png(metrics_csv: Path) -> bytes:
    """One panel per logged term of ``metrics.csv`` against the training step.

    Terms logged with identical values (``loss`` and ``train/loss``) share one panel.
    """
    series = read_metrics_csv(metrics_csv)
    if not series:
        raise UnweaveError(f"{metrics_csv} holds no logged values yet.")
    panels: dict[tuple, list[str]] = {}
    for name, (steps, values) in series.items():
        panels.setdefault((steps.tobytes(), values.tobytes()), []).append(name)
    names = [sorted(group, key=lambda n: ("/" not in n, n)) for group in panels.values()]
    ncols = min(3, len(names))
    nrows = math.ceil(len(names) / ncols)
    figure = Figure(figsize=(4.2 * ncols, 2.8 * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, group in zip(axes, names, strict=False):
        steps, values = series[group[0]]
        marker = "o" if len(steps) <= 30 else None
        ax.plot(steps, values, marker=marker, markersize=3, linewidth=1.2, color="#1f77b4")
        title = group[0] + (f"  (= {', '.join(group[1:])})" if len(group) > 1 else "")
        ax.set_title(title, fontsize=9)
        finite = values[np.isfinite(values)]
        if len(finite) and finite.min() > 0 and finite.max() / finite.min() > 50:
            ax.set_yscale("log")
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    return _png(figure)


def pca_2d(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N, D)`` codes -> ``(N, 2)`` PCA coordinates and the explained variance ratios (2,)."""
    from sklearn.decomposition import PCA

    codes = np.asarray(codes, dtype=np.float64).reshape(len(codes), -1)
    k = min(2, codes.shape[0], codes.shape[1])
    points, ratios = np.zeros((len(codes), 2)), np.zeros(2)
    if k >= 1 and len(codes) >= 2:
        pca = PCA(n_components=k, random_state=0)
        points[:, :k] = pca.fit_transform(codes)
        ratios[:k] = np.nan_to_num(pca.explained_variance_ratio_)
    return points, ratios


def embedding_png(
    codes: np.ndarray,
    labels: dict[str, np.ndarray],
    title: str,
    value_names: dict[str, list[str]] | None = None,
) -> bytes:
    """2-D PCA of ``codes`` ``(N, D)``, one subplot per factor coloured by its labels ``(N,)``.

    Factors with up to 20 values get a legend (``value_names`` label its entries when given),
    others a colour bar.
    """
    codes = np.asarray(codes)
    if codes.ndim < 2 or len(codes) == 0:
        raise UnweaveError(f"Embedding '{title}' needs codes of shape (N, D); got {codes.shape}.")
    if not labels:
        raise UnweaveError(f"Embedding '{title}' needs at least one factor to colour by.")
    for factor, values in labels.items():
        if len(values) != len(codes):
            raise UnweaveError(
                f"Factor '{factor}' has {len(values)} labels for {len(codes)} codes; "
                "expected one label per code."
            )
    points, ratios = pca_2d(codes)
    value_names = value_names or {}
    ncols = min(3, len(labels))
    nrows = math.ceil(len(labels) / ncols)
    figure = Figure(figsize=(4.4 * ncols, 3.6 * nrows + 0.4), layout="constrained")
    figure.suptitle(f"{title}  (PCA of {len(codes)} codes)", fontsize=11)
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (factor, values) in zip(axes, labels.items(), strict=False):
        values = np.asarray(values)
        present = np.unique(values)
        if len(present) <= CATEGORICAL_MAX:
            cmap = _colormap("tab10" if len(present) <= 10 else "tab20")
            names = value_names.get(factor, [])
            handles = []
            for k, value in enumerate(present):
                colour = cmap(k % cmap.N)
                mask = values == value
                ax.scatter(points[mask, 0], points[mask, 1], s=9, color=colour, alpha=0.8)
                label = names[int(value)] if 0 <= int(value) < len(names) else str(value)
                handles.append(Line2D([], [], marker="o", linestyle="", color=colour, label=label))
            ax.legend(
                handles=handles,
                fontsize=7,
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                borderaxespad=0.0,
                frameon=False,
            )
        else:
            scatter = ax.scatter(
                points[:, 0], points[:, 1], s=9, c=values, cmap=_colormap("viridis")
            )
            figure.colorbar(scatter, ax=ax, shrink=0.8)
        ax.set_title(factor, fontsize=10)
        ax.set_xlabel(f"PC1 ({ratios[0]:.0%})", fontsize=8)
        ax.set_ylabel(f"PC2 ({ratios[1]:.0%})", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(labels) :]:
        ax.set_visible(False)
    return _png(figure)


def _colormap(name: str):
    """A registered matplotlib colour map by name."""
    import matplotlib

    return matplotlib.colormaps[name]


def _numeric(value: object) -> float | None:
    """``value`` as a finite float, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def metric_bars_png(table: dict[str, dict[str, float]]) -> bytes:
    """Grouped bars: one group per metric, one bar per run, error bars from ``_std`` twins.

    ``table`` maps run name -> flat metrics (``eval.json`` style: ``key`` and ``key_std``).
    Metrics whose values all lie in [0, 1] share panels; the others get their own scale.
    """
    runs = list(table)
    if not runs:
        raise UnweaveError("The bar chart needs at least one run.")
    metrics: list[str] = []
    for values in table.values():
        for key, value in values.items():
            if not key.endswith("_std") and key not in metrics and _numeric(value) is not None:
                metrics.append(key)
    if not metrics:
        raise UnweaveError(f"Runs {', '.join(runs)} have no numeric metrics to plot.")

    def in_unit(key: str) -> bool:
        values = [_numeric(table[r].get(key)) for r in runs]
        return all(v is None or 0.0 <= v <= 1.0 for v in values)

    groups = [("values in [0, 1]", [m for m in metrics if in_unit(m)])]
    groups.append(("other scales", [m for m in metrics if not in_unit(m)]))
    panels = [
        (label, keys[start : start + BARS_PER_PANEL])
        for label, keys in groups
        for start in range(0, len(keys), BARS_PER_PANEL)
    ]
    widest = max(len(keys) for _, keys in panels)
    width = min(26.0, max(6.0, 0.28 * widest * max(2, len(runs)) + 2.0))
    figure = Figure(figsize=(width, 3.6 * len(panels) + 0.6), layout="constrained")
    axes = figure.subplots(len(panels), 1, squeeze=False).ravel()
    colours = _colormap("tab10")
    bar = 0.8 / len(runs)
    for ax, (label, keys) in zip(axes, panels, strict=True):
        for i, run in enumerate(runs):
            xs, heights, err_x, errs = [], [], [], []
            for k, key in enumerate(keys):
                value = _numeric(table[run].get(key))
                if value is None:
                    continue
                x = k + (i - (len(runs) - 1) / 2) * bar
                xs.append(x)
                heights.append(value)
                std = _numeric(table[run].get(f"{key}_std"))
                if std is not None:
                    err_x.append(x)
                    errs.append((value, std))
            ax.bar(xs, heights, width=bar, color=colours(i % colours.N), label=run)
            if errs:
                ax.errorbar(
                    err_x,
                    [v for v, _ in errs],
                    yerr=[s for _, s in errs],
                    fmt="none",
                    ecolor="black",
                    elinewidth=1,
                    capsize=2,
                )
        ax.set_xticks(range(len(keys)))
        ax.set_xticklabels(keys, rotation=50, ha="right", fontsize=7)
        ax.set_xlim(-0.6, len(keys) - 0.4)
        ax.set_title(label, fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _png(figure)

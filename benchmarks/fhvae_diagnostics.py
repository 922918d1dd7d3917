"""FHVAE's table diagnostics against the training step, from a run's metrics.csv: the
discriminative cross-entropy against the table and with the rows set to mu2* of the current
encoder, beside ln(rows) (a uniform guess); the table's per-coordinate std; the z2 spread
between over within sequences (1: no better than chance at singling out sequences).

    python benchmarks/fhvae_diagnostics.py runs/speech-fhvae-synthetic-block \
        --out docs/images/fhvae-diagnostics-synthetic-block.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from matplotlib.figure import Figure

from unweave.errors import UnweaveError
from unweave.viz.plots import read_metrics_csv, save_figure


def diagnostics_figure(metrics_csv: Path, title: str) -> Figure:
    """Three panels: the cross-entropies, the table std, the z2 spread."""
    series = read_metrics_csv(metrics_csv)
    if "diag/ce_table" not in series:
        raise UnweaveError(f"{metrics_csv} has no diag/* columns; expected an FHVAE run.")
    figure = Figure(figsize=(12, 3.2), layout="constrained")
    ce, std, spread = figure.subplots(1, 3)
    for name, label in (("ce_table", "against the table"), ("ce_mu2_star", "rows set to mu2*")):
        ce.plot(*series[f"diag/{name}"], marker="o", markersize=3, label=label)
    steps, ln_rows = series["diag/ln_rows"]
    ce.plot(steps, ln_rows, "k--", linewidth=1, label="ln(rows): uniform guess")
    ce.set_title("discriminative cross-entropy", fontsize=10)
    ce.legend(fontsize=8)
    std.plot(*series["diag/table_std"], marker="o", markersize=3)
    std.set_title("mu2 table: std per coordinate", fontsize=10)
    spread.plot(*series["diag/z2_spread"], marker="o", markersize=3)
    spread.axhline(1.0, color="k", linestyle="--", linewidth=1)
    spread.set_title("z2 spread: between / within sequences", fontsize=10)
    for ax in (ce, std, spread):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    figure.suptitle(title, fontsize=11)
    return figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    save_figure(diagnostics_figure(args.run / "metrics.csv", args.run.name), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

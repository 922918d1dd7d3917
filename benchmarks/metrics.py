"""Benchmark: time of the classic metrics on 10,000 points x 10 factors, and DCI backends.

The ground truth has 10 factors (sizes 2 to 10). Its observations are noisy linear mixtures
of the centred, scaled factors with a known structure (``MIXING``): four codes hold one
factor each, three leak a second factor in, one mixes two factors, one repeats a factor and
one holds a factor only through a mixture. The representation is the identity, so the time
is the metric's own. Every metric runs with the ``reference`` preset (disentanglement_lib's
settings); DCI runs with both backends on the same sampled points and the table reports how
far they disagree. Everything runs on one thread in one process (DCI with ``n_jobs=1``; the
machine may be shared).

Writes ``benchmarks/results/metrics.json`` and prints a table.

    python benchmarks/metrics.py [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sklearn
from threadpoolctl import threadpool_limits

from unweave.metrics.classic import PRESETS, compute

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "metrics.json"

FACTOR_SIZES = (2, 3, 4, 5, 6, 6, 8, 8, 10, 10)
NOISE = 0.05

#: ``MIXING[k, d]``: weight of factor k in code dimension d (factors scaled to [-0.5, 0.5]).
MIXING = np.eye(10)
MIXING[0, 1] = 0.5  # code 1: factor 1, plus half of factor 0
MIXING[2, 3] = 0.8  # code 3: factor 3, plus most of factor 2
MIXING[4, 4], MIXING[5, 4] = 0.3, 0.7  # code 4: mostly factor 5, a little factor 4
MIXING[8, 9], MIXING[9, 9] = 1.0, 0.5  # code 9: factor 8 again, plus half of factor 9


@dataclass(frozen=True)
class MixedFactors:
    """Ground truth whose observations are ``(n, 10)`` noisy mixtures of the factors."""

    factor_sizes: tuple[int, ...] = FACTOR_SIZES

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, 10)`` int factors drawn uniformly."""
        return rng.integers(0, self.factor_sizes, size=(n, len(self.factor_sizes)))

    def observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator
    ) -> np.ndarray:
        """``(n, 10)`` float codes: scaled factors times ``MIXING`` plus Gaussian noise."""
        sizes = np.asarray(self.factor_sizes)
        scaled = (factors - (sizes - 1) / 2) / sizes
        return scaled @ MIXING + NOISE * rng.standard_normal(factors.shape)


def identity(observations: np.ndarray) -> np.ndarray:
    """The representation: the observations themselves, ``(n, 10)``."""
    return observations


RUNS = [
    ("mig", {}),
    ("sap", {}),
    ("modularity_explicitness", {}),
    ("dci", {"backend": "hist", "n_jobs": 1}),
    ("dci", {"backend": "gbt", "n_jobs": 1}),
    ("beta_vae", {}),
    ("factor_vae", {}),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data = MixedFactors()
    rows = []
    with threadpool_limits(limits=1):
        for name, overrides in RUNS:
            start = time.perf_counter()
            scores = compute(name, identity, data, args.seed, "reference", **overrides)
            seconds = time.perf_counter() - start
            label = name + (f" ({overrides['backend']})" if overrides else "")
            rows.append({"metric": label, "seconds": round(seconds, 2), "scores": scores})
            print(f"{label}: {seconds:.1f} s", flush=True)
    by_label = {row["metric"]: row["scores"] for row in rows}
    reference, fast = by_label["dci (gbt)"], by_label["dci (hist)"]
    disagreement = {key: abs(fast[key] - reference[key]) for key in reference}
    result = {
        "points": {"train": 10000, "test": 5000},
        "factor_sizes": list(FACTOR_SIZES),
        "noise": NOISE,
        "mixing": MIXING.tolist(),
        "settings": PRESETS["reference"],
        "runs": rows,
        "dci_hist_vs_gbt_abs_difference": disagreement,
        "dci_speedup_hist_over_gbt": round(
            next(r["seconds"] for r in rows if r["metric"] == "dci (gbt)")
            / next(r["seconds"] for r in rows if r["metric"] == "dci (hist)"),
            1,
        ),
        "threads": 1,
        "seed": args.seed,
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=1))

    print()
    print(f"{'metric':<26} {'seconds':>8}  scores")
    for row in rows:
        shown = ", ".join(f"{key}={value:.3f}" for key, value in row["scores"].items())
        print(f"{row['metric']:<26} {row['seconds']:>8.2f}  {shown}")
    print()
    print("DCI |hist - gbt|: " + ", ".join(f"{k}={v:.4f}" for k, v in disagreement.items()))
    print(f"DCI hist is {result['dci_speedup_hist_over_gbt']}x faster than gbt")
    print(f"written to {OUT}")


if __name__ == "__main__":
    main()

"""Benchmark: SKD's multifactor swaps on real Sprites, with the eigenvectors found by the judge.

SKD's claim beyond the static/dynamic split is that single static factors live in their own
eigenvectors of the Koopman matrix: the authors donate hand-picked eigenvectors of their
released weights (skin [32, 33], hair [38, 39, 35], ...; ``experiments/
disentanglement_swaps.py``) from one character to another and show that one colour moves.
Hand-picked indices belong to one set of weights, so here the judge picks them, for any run:

1. encode ``--clips`` test clips, pair each of the first half (kept) with one of the second
   (donor), and fit C on them all (what :meth:`SKD.swap_by_index` does);
2. donate each eigenvalue unit alone (a real eigenvalue, or a conjugate pair) and let the
   judge read the result: for each static factor, the share of pairs whose factors differ
   where the judge now reads the donor's value (*transfer*);
3. for each static factor, the units whose gain in transfer of that factor (over donating
   nothing) exceeds the mean gain of the other three by at least ``--specificity`` (at most
   4 units, the most specific first): that factor's eigenvectors;
4. donate each factor's set, and every static unit (the ordinary swap), and report the
   transfer of all four factors and how often the action is kept.

Writes ``benchmarks/results/skd_multifactor.json`` and ``docs/images/skd-multifactor.png``
(rows: pairs; columns: kept, donor, each factor's donation, all static; the middle frame).

    python benchmarks/skd_multifactor.py [--run studies/sprites-sequential/runs/skd-seed0]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from common import machine, record

from unweave.data.registry import load_data
from unweave.export import load
from unweave.judges.train import load_judge
from unweave.models.skd import eigen_units, static_indices
from unweave.nn.frames import prepare_frames
from unweave.training.run import read_run_config

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "results" / "skd_multifactor.json"
FIGURE = REPO / "docs" / "images" / "skd-multifactor.png"
STATIC = ("skin", "pants", "top", "hair")


@torch.no_grad()
def judged(judge, clips: torch.Tensor) -> dict[str, np.ndarray]:
    """The judge's label of every factor, ``{factor: (B,)}``."""
    return {name: logits.argmax(-1).numpy() for name, logits in judge(clips).items()}


def transfer(read: dict, kept: dict, donor: dict) -> dict[str, float]:
    """Per static factor, the share of pairs whose true values differ where the judge reads
    the donor's value; ``action kept``, the share where it reads the kept clip's action."""
    rates = {}
    for name in STATIC:
        differ = kept[name] != donor[name]
        rates[name] = float((read[name][differ] == donor[name][differ]).mean())
    rates["action kept"] = float((read["action"] == kept["action"]).mean())
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run", type=Path, default=REPO / "studies/sprites-sequential/runs/skd-seed0"
    )
    parser.add_argument(
        "--clips", type=int, default=512, help="test clips (half kept, half donors)"
    )
    parser.add_argument("--specificity", type=float, default=0.15)
    parser.add_argument("--pairs-shown", type=int, default=6)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = load(args.run)
    if model.name != "skd":
        raise SystemExit(f"{args.run} is a {model.name} run; this benchmark needs an SKD run.")
    spec = read_run_config(args.run)["data"]
    test = load_data(spec["name"], "test", spec["root"], **spec["options"])
    judge, judge_info = load_judge(spec, model.config.image_size)
    rows = np.random.default_rng(0).permutation(len(test))[: args.clips]
    rows = np.sort(rows)
    x = prepare_frames(torch.from_numpy(np.asarray(test.x[rows])), model.config.image_size)
    labels = {**test.static, **test.dynamic}
    half = len(rows) // 2
    kept = {name: values[rows[:half]] for name, values in labels.items()}
    donor = {name: values[rows[half : 2 * half]] for name, values in labels.items()}
    keep_clips, donor_clips = x[:half], x[half : 2 * half]

    eigenvalues = model.eigenvalues(torch.cat([keep_clips, donor_clips]))
    units = eigen_units(eigenvalues)
    static = set(
        static_indices(eigenvalues, model.config.split_mode, model.config.static_size).tolist()
    )
    nothing = model.swap_by_index(keep_clips, donor_clips, [])
    untouched = transfer(judged(judge, nothing), kept, donor)
    per_unit = []
    for unit in units:
        read = judged(judge, model.swap_by_index(keep_clips, donor_clips, unit))
        per_unit.append({
            "unit": unit, "eigenvalue": [float(eigenvalues[unit[0]].real), float(eigenvalues[unit[0]].imag)],
            "static": unit[0] in static, **transfer(read, kept, donor),
        })  # fmt: skip

    def gain(row: dict, name: str) -> float:
        return row[name] - untouched[name]

    def specific(row: dict, name: str) -> float:
        return gain(row, name) - np.mean([gain(row, other) for other in STATIC if other != name])

    chosen: dict[str, list[int]] = {}
    for name in STATIC:
        ranked = sorted(per_unit, key=lambda row: -specific(row, name))
        picked = [row["unit"] for row in ranked if specific(row, name) >= args.specificity][:4]
        chosen[name] = [index for unit in picked for index in unit]
    sets = {f"{name} ({chosen[name]})": chosen[name] for name in STATIC}
    sets[f"all static ({sorted(static)})"] = sorted(static)
    donations, outputs = {}, {}
    for label, indices in sets.items():
        outputs[label] = model.swap_by_index(keep_clips, donor_clips, indices)
        donations[label] = transfer(judged(judge, outputs[label]), kept, donor)
    entry = {
        "machine": machine(), "run": str(args.run), "clips": 2 * half,
        "judge": judge_info.get("params", {}), "specificity": args.specificity,
        "eigenvalue_units": per_unit, "chosen": chosen, "donations": donations,
        "nothing donated": untouched,
    }  # fmt: skip
    record(OUT, json.loads(OUT.read_text()) if OUT.exists() else {}, args.run.name, entry)

    print(f"{'donated':<40} " + " ".join(f"{n:>7}" for n in (*STATIC, "action kept")))
    for label, rates in {"nothing": untouched, **donations}.items():
        print(f"{label:<40} " + " ".join(f"{rates[n]:7.2f}" for n in (*STATIC, "action kept")))

    shown = args.pairs_shown
    columns = [("kept", keep_clips), ("donor", donor_clips)] + [
        (
            label.split(" (")[0]
            + (f"\n{len(sets[label])} vectors" if sets[label] else "\nno unit"),
            out,
        )
        for label, out in outputs.items()
    ]
    middle = x.shape[1] // 2
    figure, axes = plt.subplots(shown, len(columns), figsize=(1.3 * len(columns), 1.3 * shown))
    for column, (title, clips) in enumerate(columns):
        for row in range(shown):
            axis = axes[row, column]
            axis.imshow(clips[row, middle].permute(1, 2, 0).clamp(0, 1).numpy())
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title(title, fontsize=8)
    figure.suptitle("SKD multifactor swaps: the donor's eigenvectors for one factor", fontsize=9)
    figure.tight_layout()
    FIGURE.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(FIGURE, dpi=120)
    print(f"figure: {FIGURE}")


if __name__ == "__main__":
    main()

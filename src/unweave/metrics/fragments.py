"""Evaluation of a content/style model on fragment data: retrieval, codebook, leakage, OOD.

Wires the measures of :mod:`unweave.metrics.content_style` to a trained model's
``content_style_codes`` (V3: the quantised ``z_c``, the style code ``z_s`` of each fragment and
the VQ atoms; Two-Step: S and Z, no atoms) and to the ``train``, ``test`` and ``ood``
(held-out styles) splits. Codebook measures apply to models with atoms only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from unweave.data.fragments import FragmentData
from unweave.metrics.content_style import (
    codebook_confusion,
    codebook_purity,
    content_style_report,
    few_shot_accuracy,
    leakage_report,
    plot_confusion,
)


@torch.no_grad()
def fragment_codes(
    model: torch.nn.Module, data: FragmentData, batch_size: int = 64
) -> dict[str, np.ndarray]:
    """Per fragment ``(N * n, ...)``: ``content`` and ``style`` codes, the codebook ``atom``
    indices (models with a codebook only), and the ``content_label`` / ``style_label``."""
    model.eval()
    device = next(model.parameters()).device
    parts: dict[str, list[torch.Tensor]] = {"content": [], "style": [], "atom": []}
    for start in range(0, len(data), batch_size):
        x = torch.from_numpy(np.asarray(data.x[start : start + batch_size], dtype=np.float32))
        for name, value in zip(parts, model.content_style_codes(x.to(device)), strict=True):
            if value is not None:
                parts[name].append(value.cpu())
    _, content_label, style_label = data.fragments()
    codes = {name: torch.cat(values).numpy() for name, values in parts.items() if values}
    return {**codes, "content_label": content_label, "style_label": style_label}


def content_style_evaluation(
    model: torch.nn.Module,
    train: FragmentData,
    test: FragmentData,
    ood: FragmentData | None = None,
    figure: Path | None = None,
    max_fragments: int = 2000,
    max_probe_train: int = 20000,
) -> dict[str, Any]:
    """Retrieval PR-AUCs, codebook purity (and the confusion figure at ``figure``; models
    with a codebook), leakage probes and, with ``ood``, zero- and few-shot classification of
    held-out styles (zero-shot content from the atoms, or from the content codes without).

    Retrieval uses the first ``max_fragments`` test fragments (all pairs are compared); the
    leakage probes fit on at most ``max_probe_train`` training fragments (a seeded draw: a
    1,000-way probe on Sprites' 56,000 frames would take most of an hour on a CPU)."""
    codes = {name: fragment_codes(model, data) for name, data in (("train", train), ("test", test))}
    tr, te = codes["train"], codes["test"]
    keep = slice(0, max_fragments)
    report: dict[str, Any] = {
        f"retrieval/{k}": v
        for k, v in content_style_report(
            te["content"][keep],
            te["style"][keep],
            te["content_label"][keep],
            te["style_label"][keep],
        ).items()
    }
    if "atom" in te:
        n_atoms = int(model.config.codebook_size)
        matrix = codebook_confusion(te["atom"], te["content_label"], n_atoms)
        report["codebook/purity"] = codebook_purity(matrix)
        report["codebook/atoms_used"] = int(len(np.unique(te["atom"])))
        if figure is not None:
            names = test.meta.get("value_names", {}).get("content", range(matrix.shape[1]))
            plot_confusion(matrix, [f"atom {i}" for i in range(n_atoms)], list(names), figure)
    rows = np.arange(len(tr["content_label"]))
    if len(rows) > max_probe_train:
        rows = np.sort(np.random.default_rng(0).choice(rows, max_probe_train, replace=False))
    for label, other in (("content", "style"), ("style", "content")):
        leak = leakage_report(
            tr[other][rows], tr[f"{label}_label"][rows], te[other], te[f"{label}_label"],
            tr[label][rows], te[label],
        )  # fmt: skip
        report[f"probe/{label} from {label} code"] = leak["s->label"]
        report[f"probe/{label} from {other} code"] = leak["z->label"]  # leakage: low is good
        report[f"probe/chance:{label}"] = leak["chance"]
    if ood is not None:
        od = fragment_codes(model, ood)
        content = "atom" if "atom" in tr else "content"
        shots = few_shot_accuracy(
            tr[content], tr["content_label"], od[content], od["content_label"],
            od["style"], od["style_label"],
        )  # fmt: skip
        report.update({f"ood/{k}": v for k, v in shots.items()})
    return report

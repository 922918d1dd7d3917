"""The classic metrics of a trained image model on its ground-truth data set.

Wires :mod:`unweave.metrics.classic` (disentanglement_lib's definitions) to a model with
``representation(x)`` (the posterior mean of the beta-VAE family, DiD's sample encoder) and
to a :class:`~unweave.data.ground_truth.GroundTruthImages` (dSprites, 3DShapes), which
answers ``sample_factors`` / ``observations_from_factors``. Each metric draws its own points
from a generator seeded by ``(seed, metric index)``, so one metric's settings do not change
another's draws.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from unweave.data.ground_truth import GroundTruthImages
from unweave.errors import UnweaveError
from unweave.metrics.classic import METRICS, PRESETS, Representation, compute

#: The metrics of the study (issue 7; DiD reports MIG, DCI and SAP).
STUDY_METRICS = ("beta_vae", "factor_vae", "mig", "dci", "sap")


def model_representation(model: torch.nn.Module, batch_size: int = 256) -> Representation:
    """``observations (n, C, H, W)`` float in [0, 1] -> codes ``(n, latents)`` float64, in
    batches on the model's device."""
    model.eval()
    device = next(model.parameters()).device

    def represent(observations: np.ndarray) -> np.ndarray:
        codes = []
        for start in range(0, len(observations), batch_size):
            x = torch.from_numpy(np.asarray(observations[start : start + batch_size]))
            codes.append(model.representation(x.float().to(device)).cpu().numpy())
        return np.concatenate(codes).astype(np.float64)

    return represent


def ground_truth_report(
    model: torch.nn.Module,
    data: GroundTruthImages,
    seed: int = 0,
    preset: str = "reference",
    metrics: Sequence[str] = STUDY_METRICS,
) -> dict[str, float]:
    """``metrics`` (names of :data:`~unweave.metrics.classic.METRICS`) with the settings of
    ``preset`` (``reference``: disentanglement_lib's study; ``fast``: small samples) -> one
    flat dict of their keys."""
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise UnweaveError(
            f"Unknown metric '{unknown[0]}'; expected some of: {', '.join(sorted(METRICS))}."
        )
    if preset not in PRESETS:
        raise UnweaveError(f"Unknown metric preset '{preset}'; expected one of {sorted(PRESETS)}.")
    represent = model_representation(model)
    report: dict[str, float] = {}
    for index, name in enumerate(tqdm(metrics, desc="metrics", unit="metric")):
        rng = np.random.default_rng([seed, index])
        report.update(compute(name, represent, data, rng, preset=preset))
    return report

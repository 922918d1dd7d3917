"""Linear probes: how well each code predicts each factor, and how much leaks across.

A logistic-regression probe (scikit-learn) is fitted on the codes of the train split and
scored on the test split. For a static factor the static code should score high and the
dynamic code near chance (leakage); for a dynamic factor the other way round.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from unweave.data.base import SequenceData
from unweave.errors import UnweaveError
from unweave.models import SequentialVAE
from unweave.training.module import prepare_frames


@torch.no_grad()
def encode_dataset(
    model: SequentialVAE, data: SequenceData, batch_size: int = 256, limit: int | None = None
) -> dict[str, Any]:
    """Posterior means of the first ``limit`` clips: static ``(N, F)``, dynamic ``(N, T, Z)``.

    Also returns ``mse``, the per-pixel reconstruction error from the posterior means.
    """
    device = next(model.parameters()).device
    n = len(data) if limit is None else min(limit, len(data))
    statics, dynamics, sq_err, count = [], [], 0.0, 0
    for start in range(0, n, batch_size):
        frames = torch.from_numpy(np.asarray(data.x[start : min(start + batch_size, n)]))
        x = prepare_frames(frames.to(device), model.config.image_size)
        latents = model.encode(x)
        recon = model.decode(latents.static.mean, latents.dynamic.mean)
        sq_err += float((recon - x).pow(2).sum())
        count += x.numel()
        statics.append(latents.static.mean.cpu().numpy())
        dynamics.append(latents.dynamic.mean.cpu().numpy())
    codes = {"static": np.concatenate(statics), "dynamic": np.concatenate(dynamics)}
    for name, values in codes.items():
        bad = int((~np.isfinite(values.reshape(len(values), -1))).any(1).sum())
        if bad:
            raise UnweaveError(
                f"The model gave NaN or infinite {name} codes for {bad} of {len(values)} clips "
                f"of '{data.name}/{data.split}'; its weights are likely diverged."
            )
    return {**codes, "mse": sq_err / count}


def probe_accuracy(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
) -> float:
    """Test accuracy of a standardised logistic regression fitted on ``(N, D)`` codes."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    probe.fit(train_codes.reshape(len(train_codes), -1), train_labels)
    return float(probe.score(test_codes.reshape(len(test_codes), -1), test_labels))


def probe_report(
    model: SequentialVAE,
    train: SequenceData,
    test: SequenceData,
    max_train: int | None = 5000,
    max_test: int | None = None,
) -> dict[str, float]:
    """Probe every factor from both codes. Keys: ``mse``, ``<code>-><factor>``, ``chance:<factor>``.

    ``<code>`` is ``static`` or ``dynamic`` (the dynamic code is flattened over time).
    """
    model.eval()
    train_codes = encode_dataset(model, train, limit=max_train)
    test_codes = encode_dataset(model, test, limit=max_test)
    n_train, n_test = len(train_codes["static"]), len(test_codes["static"])
    report = {"mse": test_codes["mse"]}
    labels = {**train.static, **train.dynamic}
    test_labels = {**test.static, **test.dynamic}
    for factor in labels:
        y_train, y_test = labels[factor][:n_train], test_labels[factor][:n_test]
        for code in ("static", "dynamic"):
            report[f"{code}->{factor}"] = probe_accuracy(
                train_codes[code], y_train, test_codes[code], y_test
            )
        report[f"chance:{factor}"] = float(np.bincount(y_test).max() / n_test)
    return report


def format_probe_table(report: dict[str, float], data: SequenceData) -> str:
    """A plain-text table: one row per factor, the accuracy from each code, and chance."""
    lines = [f"{'factor':<12} {'kind':<8} {'static code':>12} {'dynamic code':>13} {'chance':>7}"]
    for kind, names in (("static", data.static), ("dynamic", data.dynamic)):
        for factor in names:
            lines.append(
                f"{factor:<12} {kind:<8} {report[f'static->{factor}']:>12.3f} "
                f"{report[f'dynamic->{factor}']:>13.3f} {report[f'chance:{factor}']:>7.3f}"
            )
    lines.append(f"reconstruction MSE per pixel: {report['mse']:.5f}")
    return "\n".join(lines)

"""Linear probes: how well each code predicts each factor, and how much leaks across.

A logistic-regression probe (scikit-learn) is fitted on the codes of the train split and
scored on the test split. For a static factor the static code should score high and the
dynamic code near chance (leakage); for a dynamic factor the other way round.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from unweave.data.base import SequenceData
from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError
from unweave.models import SequentialVAE
from unweave.nn.frames import prepare_frames


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
        recon = model.decode(latents.static_to_decode, latents.dynamic.mean)
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


#: The largest probe (weights: (D + 1) x classes) fitted by Newton's method, whose Hessian
#: has that many rows and columns (10,000: 800 MB of float64).
NEWTON_MAX_WEIGHTS = 10_000


def probe_solver(features: int, classes: int) -> str:
    """scikit-learn's solver for a probe of ``features`` inputs and ``classes`` labels:
    Newton's method where its Hessian fits :data:`NEWTON_MAX_WEIGHTS`, else L-BFGS (a probe
    of 1,000 Sprites characters from 128 numbers would need a 124 GiB Hessian)."""
    weights = (features + 1) * (1 if classes <= 2 else classes)
    return "newton-cholesky" if weights <= NEWTON_MAX_WEIGHTS else "lbfgs"


def probe_accuracy(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
) -> float:
    """Test accuracy of a standardised logistic regression fitted on ``(N, D)`` codes.

    Newton's method reaches the optimum of the (convex, L2-regularised) probe in a few
    iterations where L-BFGS needs hundreds on codes that do not separate the classes; on an
    ill-conditioned Hessian scikit-learn continues with L-BFGS from where Newton stopped.
    Probes too large for a Newton step (:func:`probe_solver`) use L-BFGS alone.
    """
    train_codes = train_codes.reshape(len(train_codes), -1)
    solver = probe_solver(train_codes.shape[1], len(np.unique(train_labels)))
    probe = make_pipeline(StandardScaler(), LogisticRegression(solver=solver, max_iter=1000))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ill-conditioned Hessian.*")
        probe.fit(train_codes, train_labels)
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
        report[f"chance:{factor}"] = chance(y_test)
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


def sequence_codes(codes: dict[str, np.ndarray]) -> np.ndarray:
    """One code per clip for the classic metrics: ``[static (N, F), time-mean dynamic (N, Z)]``."""
    return np.concatenate([codes["static"], codes["dynamic"].mean(1)], axis=1)


def label_matrix(data: SequenceData, n: int) -> tuple[list[str], np.ndarray]:
    """Factor names (static, then dynamic) and their labels ``(n, K)`` for the first n clips."""
    labels = {**data.static, **data.dynamic}
    return list(labels), np.stack([labels[k][:n] for k in labels], 1)


def mutual_information_report(
    codes: dict[str, np.ndarray], names: list[str], factors: np.ndarray, num_bins: int = 20
) -> dict[str, float]:
    """``mi/<code>-><factor>``: the largest MI between one dimension of the code and the factor,
    divided by the factor's entropy (1 = one dimension determines it; 0 = independent).

    The dynamic code's dimensions are taken per frame step (``(N, T * Z)``); codes are binned
    into ``num_bins`` equal-width bins as in disentanglement_lib's MIG.
    """
    from unweave.metrics.classic import (
        factor_entropies,
        histogram_discretize,
        mutual_information_matrix,
    )

    entropy = factor_entropies(factors)
    report = {}
    for code, values in codes.items():
        binned = histogram_discretize(values.reshape(len(values), -1), num_bins)
        best = mutual_information_matrix(binned, factors).max(0) / entropy
        report.update({f"mi/{code}->{name}": float(v) for name, v in zip(names, best, strict=True)})
    return report


def classic_report(
    model: SequentialVAE,
    train: SequenceData,
    test: SequenceData,
    max_train: int | None = 5000,
    dci_backend: str = "gbt",
) -> dict[str, float]:
    """MIG, SAP, DCI and modularity/explicitness of ``[static, time-mean dynamic]`` codes
    against all factors, plus :func:`mutual_information_report` per code, on posterior means."""
    from unweave.metrics.classic import (
        dci_from_codes,
        mig_from_codes,
        modularity_explicitness_from_codes,
        sap_from_codes,
    )

    model.eval()
    train_codes = encode_dataset(model, train, limit=max_train)
    test_codes = encode_dataset(model, test)
    names, y_train = label_matrix(train, len(train_codes["static"]))
    _, y_test = label_matrix(test, len(test_codes["static"]))
    z_train, z_test = sequence_codes(train_codes), sequence_codes(test_codes)
    report = {**mig_from_codes(z_train, y_train)}
    report.update(sap_from_codes(z_train, y_train, z_test, y_test))
    report.update(dci_from_codes(z_train, y_train, z_test, y_test, backend=dci_backend))
    report.update(modularity_explicitness_from_codes(z_train, y_train, z_test, y_test))
    codes = {"static": train_codes["static"], "dynamic": train_codes["dynamic"]}
    report.update(mutual_information_report(codes, names, y_train))
    return report


@torch.no_grad()
def encode_series(
    model: torch.nn.Module, data: SeriesData, batch_size: int = 256, limit: int | None = None
) -> dict[str, Any]:
    """Posterior means of a series model: static ``(N, S)`` (None for ``seqvae``), dynamic
    ``(N, W, D)``, and ``mse``, the error of the mean reconstruction on observed cells."""
    model.eval()
    device = next(model.parameters()).device
    n = len(data) if limit is None else min(limit, len(data))
    statics, dynamics, sq_err, count = [], [], 0.0, 0
    for start in range(0, n, batch_size):
        rows = slice(start, min(start + batch_size, n))
        x = torch.from_numpy(data.x[rows]).float().to(device)
        mask = torch.from_numpy(data.mask[rows]).to(device)
        latents = model.encode(x, mask)
        static = None if latents.static is None else latents.static.mean
        recon = model.decode(static, latents.dynamic.mean)
        sq_err += float(((recon - x).pow(2) * mask).sum())
        count += int(mask.sum())
        if static is not None:
            statics.append(static.cpu().numpy())
        dynamics.append(latents.dynamic.mean.cpu().numpy())
    dynamic = np.concatenate(dynamics)
    if not np.isfinite(dynamic).all() or any(not np.isfinite(s).all() for s in statics):
        raise UnweaveError(
            f"The model gave NaN or infinite codes on '{data.name}/{data.split}'; "
            "its weights are likely diverged."
        )
    static_codes = np.concatenate(statics) if statics else None
    return {"static": static_codes, "dynamic": dynamic, "mse": sq_err / max(count, 1)}


def series_probe_report(
    model: torch.nn.Module, train: SeriesData, test: SeriesData, max_train: int | None = 5000
) -> dict[str, float]:
    """Probes for series: every static factor from the static code and from the flattened
    dynamic codes (leakage); every per-window factor (``targets["regime"]``, and each
    per-step ``dynamic`` label as the most frequent known value of each window) from each
    window's dynamic code and from the static code (leakage). Labels of -1 (unknown) are left
    out. Keys as :func:`probe_report`."""
    train_codes = encode_series(model, train, limit=max_train)
    test_codes = encode_series(model, test)
    n_train = len(train_codes["dynamic"])
    codes = {k: train_codes[k] for k in ("static", "dynamic") if train_codes[k] is not None}
    report = {"mse": test_codes["mse"]}
    for factor, labels in train.static.items():
        for code in codes:
            report[f"{code}->{factor}"] = known_probe(
                train_codes[code], labels[:n_train], test_codes[code], test.static[factor]
            )
        report[f"chance:{factor}"] = chance(test.static[factor])
    n_windows = train_codes["dynamic"].shape[1]
    for factor in [*train.dynamic, *(["regime"] if "regime" in train.targets else [])]:
        window_labels = {
            split: data.targets["regime"] if factor == "regime"
            else window_majority(data.dynamic[factor], n_windows)
            for split, data in (("train", train), ("test", test))
        }  # fmt: skip
        for code in codes:
            per_window = {
                split: c if code == "dynamic" else np.repeat(c[:, None], n_windows, 1)
                for split, c in (("train", train_codes[code]), ("test", test_codes[code]))
            }
            report[f"{code}->{factor}"] = known_probe(
                per_window["train"].reshape(n_train * n_windows, -1),
                window_labels["train"][:n_train].reshape(-1),
                per_window["test"].reshape(len(test) * n_windows, -1),
                window_labels["test"].reshape(-1),
            )
        report[f"chance:{factor}"] = chance(window_labels["test"].reshape(-1))
    return report


def known_probe(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
) -> float:
    """:func:`probe_accuracy` on the rows whose label is known (not -1)."""
    known_train, known_test = train_labels >= 0, test_labels >= 0
    return probe_accuracy(
        train_codes[known_train], train_labels[known_train],
        test_codes[known_test], test_labels[known_test],
    )  # fmt: skip


def chance(labels: np.ndarray) -> float:
    """The share of the most frequent known label (-1 = unknown is left out)."""
    known = labels[labels >= 0]
    return float(np.bincount(known).max() / len(known))


def window_majority(labels: np.ndarray, n_windows: int) -> np.ndarray:
    """Per-step labels ``(N, T)`` -> the most frequent known label of each of ``n_windows``
    windows ``(N, W)`` (ties: the smaller; -1 where a window has no known label)."""
    n, steps = labels.shape
    windows = labels.reshape(n, n_windows, steps // n_windows)
    size = max(int(labels.max()) + 1, 1)
    counts = np.stack([(windows == value).sum(-1) for value in range(size)], axis=-1)
    return np.where(counts.max(-1) > 0, counts.argmax(-1), -1)


def format_series_probe_table(report: dict[str, float]) -> str:
    """A plain-text table of :func:`series_probe_report`: one row per factor."""
    factors = [k.split(":", 1)[1] for k in report if k.startswith("chance:")]
    lines = [f"{'factor':<12} {'static code':>12} {'dynamic code':>13} {'chance':>7}"]
    for factor in factors:
        static = report.get(f"static->{factor}")
        cells = f"{static:>12.3f}" if static is not None else f"{'-':>12}"
        lines.append(
            f"{factor:<12} {cells} {report[f'dynamic->{factor}']:>13.3f} "
            f"{report[f'chance:{factor}']:>7.3f}"
        )
    lines.append(f"reconstruction MSE per observed cell: {report['mse']:.5f}")
    return "\n".join(lines)

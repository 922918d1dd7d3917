"""Downstream protocols for time series: a frozen representation feeds a small network.

The protocols of DBSE's Tables 3 and 4 (reference/dbse.md §3, reference code
``time_series/*/train_and_eval_*.py``):

* ``etth1-ot``: each 24-hour window's mean oil temperature (raw units) from ``[z_w, f]``:
  BatchNorm1d, MLP [32, 8] with LeakyReLU, Linear -> 1, LeakyReLU; L1 loss; Adam 1e-3;
  300 epochs, batch 10; test MAE after the last epoch; 3 runs.
* ``mortality``: PhysioNet in-hospital death: an LSTM (hidden 32) over ``z``, its output at
  the last observed window, concatenated with ``f``, MLP [16] (ReLU, dropout 0.5), sigmoid;
  BCE, gradient norm clipped at 1, Adam 1e-3, 40 epochs; test AUROC and AUPRC; 3 runs.
* ``icu-type`` (PhysioNet, 4 classes), ``month`` (air quality, 12 classes), and on the
  synthetic series ``level`` and ``family``: Linear(f -> C), ReLU, Linear(C -> C) on the
  static code only; cross-entropy, Adam 1e-3, 40 epochs of 5 passes each, the test accuracy
  of the epoch with the best validation accuracy; 2 runs. The validation set is the last 20%
  of the training split (the reference carves its own 20%).

As in the reference, the codes are posterior *samples*, drawn afresh for every batch.

Representations: a trained DBSE (``f``, ``z``); the non-disentangled baseline ``seqvae``
(no ``f``: per-window tasks read ``z_w`` alone, per-series tasks the mean of ``z`` over
windows); and ``raw`` features (``z_w`` = the window's values, flattened, 0 where missing;
``f`` = each feature's observed mean and standard deviation over the series).

The predictors are a few thousand parameters trained for a few hundred steps, so they run
in a plain PyTorch loop: a Lightning Trainer's per-epoch overhead would dominate the cost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import nn
from tqdm.auto import tqdm

from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError

#: (x, mask) -> (static (B, S) or None, dynamic (B, W, D))
Representation = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor | None, torch.Tensor]]


@dataclass(frozen=True)
class Task:
    """One downstream protocol: what it predicts, from which data, and how it is trained."""

    name: str
    kind: str  # "window-regression", "sequence-binary" or "static-class"
    target: str  # key of SeriesData.targets or SeriesData.static
    data: tuple[str, ...]
    runs: int
    epochs: int
    batch_size: int
    passes: int = 1  # passes over the training data per epoch
    lr: float = 1e-3


TASKS: dict[str, Task] = {
    "etth1-ot": Task("etth1-ot", "window-regression", "OT_daily", ("etth1", "etth2"), 3, 300, 10),
    "mortality": Task(
        "mortality", "sequence-binary", "in_hospital_death", ("physionet",), 3, 40, 32
    ),
    "icu-type": Task("icu-type", "static-class", "icu_type", ("physionet",), 2, 40, 32, passes=5),
    "month": Task("month", "static-class", "month", ("air-quality",), 2, 40, 32, passes=5),
    "level": Task("level", "static-class", "level", ("synthetic-series",), 2, 40, 64, passes=5),
    "family": Task("family", "static-class", "family", ("synthetic-series",), 2, 40, 64, passes=5),
}


def tasks_for(data_name: str) -> list[str]:
    """The downstream tasks defined for data set ``data_name``."""
    return [name for name, task in TASKS.items() if data_name in task.data]


def get_task(name: str, data_name: str) -> Task:
    """Task ``name``, checked against the data set it will run on."""
    if name not in TASKS:
        raise UnweaveError(f"Unknown task '{name}'; expected one of: {', '.join(TASKS)}.")
    task = TASKS[name]
    if data_name not in task.data:
        raise UnweaveError(
            f"Task '{name}' needs data {' or '.join(task.data)}, not '{data_name}'; tasks for "
            f"'{data_name}': {', '.join(tasks_for(data_name)) or 'none'}."
        )
    return task


# ---------------------------------------------------------------------------- representations


def model_representation(model: nn.Module) -> Representation:
    """Posterior samples of a trained series model: ``(f or None, z)``."""
    model.eval()

    @torch.no_grad()
    def represent(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        latents = model.encode(x, mask)
        static = None if latents.static is None else latents.static.sample()
        return static, latents.dynamic.sample()

    return represent


def raw_representation(window: int) -> Representation:
    """Raw features: per-window values ``(B, W, window * F)`` and per-feature mean/std ``(B, 2F)``."""

    def represent(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t, f = x.shape
        values = x * mask
        count = mask.sum(1).clamp(min=1)
        mean = values.sum(1) / count
        std = ((values - mean[:, None]).pow(2) * mask).sum(1).div(count).sqrt()
        return torch.cat([mean, std], 1), values.reshape(b, t // window, window * f)

    return represent


# ---------------------------------------------------------------------------- heads


class WindowRegressor(nn.Module):
    """``[z_w, f]`` ``(B, W, D)`` -> one value per window ``(B, W)`` (the ETTh1 predictor)."""

    def __init__(self, in_dim: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(in_dim)
        self.net = nn.Sequential(
            nn.Linear(in_dim, 32), nn.LeakyReLU(), nn.Linear(32, 8), nn.LeakyReLU(),
            nn.Linear(8, 1), nn.LeakyReLU(),
        )  # fmt: skip

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(self.norm(h.transpose(1, 2)).transpose(1, 2)).squeeze(-1)


class SequenceClassifier(nn.Module):
    """``z`` ``(B, W, D)``, last observed window ``(B,)`` and ``f`` -> P(death) ``(B,)``."""

    def __init__(self, dynamic_dim: int, static_dim: int) -> None:
        super().__init__()
        self.rnn = nn.LSTM(dynamic_dim, 32, batch_first=True)
        self.head = nn.Sequential(
            nn.Linear(32 + static_dim, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1)
        )

    def forward(
        self, dynamic: torch.Tensor, last: torch.Tensor, static: torch.Tensor | None
    ) -> torch.Tensor:
        out, _ = self.rnn(dynamic)
        h = out[torch.arange(len(out)), last]
        if static is not None:
            h = torch.cat([h, static], 1)
        return torch.sigmoid(self.head(h)).squeeze(-1)


def static_classifier(in_dim: int, n_classes: int) -> nn.Module:
    """Linear(in -> C), ReLU, Linear(C -> C): the reference's classifier on ``f``."""
    return nn.Sequential(nn.Linear(in_dim, n_classes), nn.ReLU(), nn.Linear(n_classes, n_classes))


# ---------------------------------------------------------------------------- the protocols


def _tensors(data: SeriesData, rows: np.ndarray | None = None) -> tuple[torch.Tensor, ...]:
    rows = np.arange(len(data)) if rows is None else rows
    return torch.from_numpy(data.x[rows]).float(), torch.from_numpy(data.mask[rows])


def _batches(n: int, size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    return list(order.split(size))


def _per_series(static: torch.Tensor | None, dynamic: torch.Tensor) -> torch.Tensor:
    return static if static is not None else dynamic.mean(1)


def _last_window(mask: torch.Tensor, n_windows: int) -> torch.Tensor:
    """Index of the last window with any observed value ``(B,)`` (0 if none)."""
    window = mask.shape[1] // n_windows
    seen = mask.any(-1).reshape(len(mask), n_windows, window).any(-1)  # (B, W)
    idx = torch.arange(n_windows).expand_as(seen)
    return torch.where(seen, idx, torch.zeros_like(idx)).max(1).values


def run_window_regression(
    task: Task, represent: Representation, train: SeriesData, test: SeriesData, seed: int
) -> dict[str, float]:
    """Train the window regressor once; ``{"mae": test MAE}`` after the last epoch."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    (x, m), (xt, mt) = _tensors(train), _tensors(test)
    y, yt = (torch.from_numpy(d.targets[task.target]).float() for d in (train, test))

    def features(xb: torch.Tensor, mb: torch.Tensor) -> torch.Tensor:
        static, dynamic = represent(xb, mb)
        if static is None:
            return dynamic
        return torch.cat([dynamic, static[:, None].expand(-1, dynamic.shape[1], -1)], -1)

    head = WindowRegressor(features(x[:2], m[:2]).shape[-1])
    optimiser = torch.optim.Adam(head.parameters(), lr=task.lr)
    for _ in range(task.epochs):
        head.train()
        for rows in _batches(len(x), task.batch_size, generator):
            if len(rows) < 2:  # BatchNorm needs two series
                continue
            loss = nn.functional.l1_loss(head(features(x[rows], m[rows])), y[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    head.eval()
    with torch.no_grad():
        prediction = head(features(xt, mt))
    return {"mae": float((prediction - yt).abs().mean())}


def run_sequence_binary(
    task: Task, represent: Representation, train: SeriesData, test: SeriesData, seed: int
) -> dict[str, float]:
    """Train the mortality classifier once; test ``{"auroc", "auprc"}`` after the last epoch."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    (x, m), (xt, mt) = _tensors(train), _tensors(test)
    y = torch.from_numpy(train.targets[task.target]).float()
    yt = test.targets[task.target]
    static, dynamic = represent(x[:2], m[:2])
    n_windows = dynamic.shape[1]
    head = SequenceClassifier(dynamic.shape[-1], 0 if static is None else static.shape[-1])
    optimiser = torch.optim.Adam(head.parameters(), lr=task.lr)

    def predict(xb: torch.Tensor, mb: torch.Tensor) -> torch.Tensor:
        static, dynamic = represent(xb, mb)
        return head(dynamic, _last_window(mb, n_windows), static)

    for _ in range(task.epochs):
        head.train()
        for rows in _batches(len(x), task.batch_size, generator):
            loss = nn.functional.binary_cross_entropy(predict(x[rows], m[rows]), y[rows])
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(head.parameters(), 1.0)
            optimiser.step()
    head.eval()
    with torch.no_grad():
        scores = predict(xt, mt).numpy()
    if len(np.unique(yt)) < 2:
        raise UnweaveError(f"The test split of '{test.name}' has a single {task.target} value.")
    return {
        "auroc": float(roc_auc_score(yt, scores)),
        "auprc": float(average_precision_score(yt, scores)),
    }


def run_static_class(
    task: Task, represent: Representation, train: SeriesData, test: SeriesData, seed: int
) -> dict[str, float]:
    """Train the static classifier once; test ``{"accuracy"}`` at the best validation epoch."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    labels = train.static[task.target]
    known = np.flatnonzero(labels >= 0)
    n_valid = max(1, len(known) // 5)
    fit_rows, valid_rows = known[:-n_valid], known[-n_valid:]
    test_rows = np.flatnonzero(test.static[task.target] >= 0)
    n_classes = int(max(labels.max(), test.static[task.target].max())) + 1
    (x, m), (xv, mv), (xt, mt) = (
        _tensors(train, fit_rows), _tensors(train, valid_rows), _tensors(test, test_rows)
    )  # fmt: skip
    y = torch.from_numpy(labels[fit_rows]).long()
    yv, yt = labels[valid_rows], test.static[task.target][test_rows]
    head = static_classifier(_per_series(*represent(x[:2], m[:2])).shape[-1], n_classes)
    optimiser = torch.optim.Adam(head.parameters(), lr=task.lr)

    def accuracy(xb: torch.Tensor, mb: torch.Tensor, yb: np.ndarray) -> float:
        head.eval()
        with torch.no_grad():
            predicted = head(_per_series(*represent(xb, mb))).argmax(1).numpy()
        return float((predicted == yb).mean())

    best_valid, best_test = -1.0, 0.0
    for _ in range(task.epochs):
        head.train()
        for _ in range(task.passes):
            for rows in _batches(len(x), task.batch_size, generator):
                logits = head(_per_series(*represent(x[rows], m[rows])))
                loss = nn.functional.cross_entropy(logits, y[rows])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        valid = accuracy(xv, mv, yv)
        if valid > best_valid:
            best_valid, best_test = valid, accuracy(xt, mt, yt)
    chance = float(np.bincount(yt).max() / len(yt))
    return {"accuracy": best_test, "valid_accuracy": best_valid, "chance": chance}


PROTOCOLS = {
    "window-regression": run_window_regression,
    "sequence-binary": run_sequence_binary,
    "static-class": run_static_class,
}


def run_task(
    task: Task,
    represent: Representation,
    train: SeriesData,
    test: SeriesData,
    runs: int | None = None,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Repeat ``task`` over ``runs`` seeds: ``{"task", "runs", <metric>: {"mean", "std", "values"}}``."""
    runs = task.runs if runs is None else runs
    if runs < 1:
        raise UnweaveError(f"runs is {runs}; expected at least 1.")
    protocol = PROTOCOLS[task.kind]
    # One thread: these nets are too small to gain from more, and two threads that wait on
    # each other slow down 10-20x when another process holds a core.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        results = [
            protocol(task, represent, train, test, seed + r)
            for r in tqdm(range(runs), desc=task.name, disable=not progress)
        ]
    finally:
        torch.set_num_threads(threads)
    summary: dict[str, Any] = {"task": task.name, "runs": runs}
    for key in results[0]:
        values = np.array([r[key] for r in results])
        summary[key] = {
            "mean": float(values.mean()),
            "std": float(values.std()),
            "values": values.tolist(),
        }
    return summary


def format_results(rows: dict[str, dict[str, Any]]) -> str:
    """A plain-text table: one row per (representation, task), metrics as mean ± std."""
    lines = [f"{'representation':<28} {'task':<10} {'metric':<15} {'mean ± std':>16}"]
    for label, summary in rows.items():
        for key, value in summary.items():
            if isinstance(value, dict):
                cell = f"{value['mean']:.3f} ± {value['std']:.3f}"
                lines.append(f"{label:<28} {summary['task']:<10} {key:<15} {cell:>16}")
    return "\n".join(lines)

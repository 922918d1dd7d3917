"""Stopping a run at its first non-finite loss or gradient, before it spoils the weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback

from unweave.errors import UnweaveError


class NonFiniteTraining(UnweaveError):
    """A loss or gradient became NaN or infinite; training stopped before the update."""


class FiniteGuard(Callback):
    """Raises :class:`NonFiniteTraining` at the first non-finite loss (naming the loss terms
    that are not finite, from the module's ``latest_terms``) or gradient, before the
    optimiser applies it, so no checkpoint or export ever holds the spoiled weights.

    ``checkpoint``: the run's last checkpoint, named in the message when it exists.
    """

    def __init__(self, checkpoint: Path) -> None:
        self.checkpoint = checkpoint

    def on_before_backward(
        self, trainer: pl.Trainer, module: pl.LightningModule, loss: torch.Tensor
    ) -> None:
        if torch.isfinite(loss).all():
            return
        terms: dict[str, Any] = getattr(module, "latest_terms", None) or {}
        bad = [
            k
            for k, v in terms.items()
            if k != "loss" and torch.is_tensor(v) and not torch.isfinite(v).all()
        ]
        which = f" (non-finite terms: {', '.join(bad)})" if bad else ""
        self._stop(trainer, f"the loss is {float(loss.detach().float().sum())}{which}")

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        named = [(n, p.grad) for n, p in module.named_parameters() if p.grad is not None]
        if not named or torch.stack([torch.isfinite(g).all() for _, g in named]).all():
            return  # one device sync a step; the names only when something is wrong
        bad = next(n for n, g in named if not torch.isfinite(g).all())
        self._stop(trainer, f"the gradient of {bad} is not finite")

    def _stop(self, trainer: pl.Trainer, what: str) -> None:
        kept = (
            f"the last finite checkpoint, {self.checkpoint}, is kept"
            if self.checkpoint.exists()
            else "no checkpoint had been written yet"
        )
        raise NonFiniteTraining(
            f"Training stopped at step {trainer.global_step + 1} (epoch {trainer.current_epoch + 1}): "
            f"{what}; {kept}. A learning rate too high (optim.lr) or bad values in the data "
            "are the usual causes."
        )

"""The LightningModule that trains any unweave model: batches in, logged loss terms out."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch

from unweave.data.registry import data_modality
from unweave.models import build_model, model_class


def build_module(config: dict[str, Any]) -> pl.LightningModule:
    """The LightningModule that trains ``config``: the model's own (``training_module``, e.g.
    Two-Step's two steps with three optimisers) or :class:`UnweaveModule`."""
    cls = model_class(config["method"], data_modality(config["data"]["name"]))
    own = getattr(cls, "training_module", None)
    return UnweaveModule(config) if own is None else own(config)


class UnweaveModule(pl.LightningModule):
    """Wraps a model built from ``config["method"]`` and ``config["model"]``; Adam as configured."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.config = config
        modality = data_modality(config["data"]["name"])
        self.model = build_model(config["method"], config["model"], modality)
        compiled = config["train"].get("compile", False)
        self.loss = torch.compile(self.model.loss) if compiled else self.model.loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        inputs = self.model.batch_inputs(batch)
        terms = self.loss(*inputs)
        self.latest_terms = terms  # named by the FiniteGuard if the loss is not finite
        batch_size = inputs[0].shape[0]
        # Log only on the steps the loggers write (Lightning's logging costs ~1 ms per value,
        # a noticeable share of a small model's step on a CPU).
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log("loss", terms["loss"], prog_bar=True, batch_size=batch_size)
            self.log_dict({f"train/{k}": v for k, v in terms.items()}, batch_size=batch_size)
        return terms["loss"]

    def on_train_epoch_start(self) -> None:
        """Let a model that trains on part of the data per epoch (FHVAE's hierarchical
        sampling) set itself up for this epoch's part."""
        start_epoch = getattr(self.model, "start_epoch", None)
        if start_epoch is not None:
            data = self.trainer.datamodule.train_data
            start_epoch(data, self.current_epoch, self.config["train"]["seed"])

    def on_train_epoch_end(self) -> None:
        """Log a model's own training diagnostics (e.g. FHVAE's table figures) as ``diag/*``,
        once an epoch; they draw no number from the global random generator."""
        diagnostics = getattr(self.model, "training_diagnostics", None)
        if diagnostics is not None:
            figures = diagnostics(self.trainer.datamodule.train_data, self.config["train"]["seed"])
            self.log_dict({f"diag/{k}": v for k, v in figures.items()})

    def configure_optimizers(self) -> dict[str, Any]:
        """Adam or AdamW as configured; ``optim.schedule: cosine`` decays the rate to 0 over
        the run's steps; models with ``lr_lambda(epoch)`` (V3) get that schedule."""
        optim = self.config["optim"]
        optimiser_class = torch.optim.AdamW if optim["name"] == "adamw" else torch.optim.Adam
        optimiser = optimiser_class(
            self.model.parameters(),
            lr=optim["lr"],
            betas=tuple(optim["betas"]),
            weight_decay=optim["weight_decay"],
        )
        if optim["schedule"] == "cosine":
            total = max(1, int(self.trainer.estimated_stepping_batches))
            cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=total)
            return {
                "optimizer": optimiser,
                "lr_scheduler": {"scheduler": cosine, "interval": "step"},
            }
        lr_lambda = getattr(self.model, "lr_lambda", None)
        if lr_lambda is None:
            return {"optimizer": optimiser}
        schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lr_lambda)
        return {
            "optimizer": optimiser,
            "lr_scheduler": {"scheduler": schedule, "interval": "epoch"},
        }

"""The LightningModule that trains any unweave model: frames in, logged loss terms out."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F

from unweave.models import build_model


def prepare_frames(frames: torch.Tensor, image_size: int) -> torch.Tensor:
    """uint8 ``(B, T, C, H, W)`` -> float in [0, 1], resized (area) to ``image_size`` if needed.

    Runs on the training device, so the loader moves 4x fewer bytes than with float frames.
    """
    x = frames.float() / 255.0 if frames.dtype == torch.uint8 else frames.float()
    if x.shape[-1] != image_size or x.shape[-2] != image_size:
        b, t = x.shape[:2]
        x = F.interpolate(x.flatten(0, 1), size=(image_size, image_size), mode="area")
        x = x.view(b, t, *x.shape[1:])
    return x


class UnweaveModule(pl.LightningModule):
    """Wraps a model built from ``config["method"]`` and ``config["model"]``; Adam as configured."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.config = config
        self.model = build_model(config["method"], config["model"])

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        x = prepare_frames(batch["x"], self.model.config.image_size)
        terms = self.model.loss(x)
        # Log only on the steps the loggers write (Lightning's logging costs ~1 ms per value,
        # a noticeable share of a small model's step on a CPU).
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            self.log("loss", terms["loss"], prog_bar=True, batch_size=x.shape[0])
            self.log_dict({f"train/{k}": v for k, v in terms.items()}, batch_size=x.shape[0])
        return terms["loss"]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        optim = self.config["optim"]
        return torch.optim.Adam(
            self.model.parameters(),
            lr=optim["lr"],
            betas=tuple(optim["betas"]),
            weight_decay=optim["weight_decay"],
        )

"""The sequential baselines on time series: SPYL on DBSE's series model.

SPYL's paper (Naiman, Berman & Azencot, ICML 2023) evaluates on time series too (its
Readme: "video, audio, and time series benchmarks"), but its repository (azencot-group/SPYL
bce1a95) is Sprites only. The one executable series reference of this line of work is
DBSE's (``time_series/``, the same authors), so here SPYL's own terms are added to DBSE's
series model (:class:`unweave.models.series.SeriesDBSE`: per-step MLP, static code from one
window, one dynamic code per window, LSTM prior, window decoder, masked Gaussian NLL over
``mc_samples`` draws), as the speech baselines read DBSE's speech front end:

* the MI penalty on f and the window codes z_w (weight ``w_mi``), C-DSVAE's estimator;
* *sample*: a bank of ``bank_factor`` x B series decoded from f ~ N(0, I) and the prior's
  means, encoded again; *predict*: f's mean decoded with prior dynamics, the window codes'
  means decoded with f ~ N(0, I), each encoded again; InfoNCE of f's mean and of z's
  window-averaged mean against them and the bank's farthest by KL, from ``warmup_epochs``.

The MI and contrastive terms read one draw of each series (the first of the ``mc_samples``
copies DBSE's loss averages over). These are choices of unweave, listed in
``docs/methods.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unweave.models.series import SeriesDBSE, SeriesVAEConfig
from unweave.models.spyl import SampleAndPredict, SampleAndPredictSettings
from unweave.nn.gaussian import Gaussian
from unweave.nn.mutual_information import (
    MIPenaltySettings,
    static_dynamic_mi,
    training_set_size,
)


@dataclass
class SeriesSPYLConfig(SeriesVAEConfig, MIPenaltySettings, SampleAndPredictSettings):
    """DBSE's series sizes and ELBO weights with SPYL's MI penalty and contrastive terms."""


class SeriesSPYL(SampleAndPredict, SeriesDBSE):
    """SPYL on series ``(B, T, F)`` with masks: static ``(B, f_dim)``, dynamic
    ``(B, n_windows, z_dim)``; the contrastive terms start after ``warmup_epochs`` epochs."""

    name = "spyl"
    config_class = SeriesSPYLConfig
    settings_from_data = staticmethod(training_set_size)

    def loss(self, x: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """DBSE's terms, ``mi_static_dynamic`` and, once warm, ``nce_content`` and
        ``nce_motion``."""
        c: SeriesSPYLConfig = self.config  # type: ignore[assignment]
        terms, latents, f, z, total = self.elbo(x, mask)
        n = len(x)
        static = Gaussian(latents.static.mean[:n], latents.static.logvar[:n])
        dynamic = Gaussian(latents.dynamic.mean[:n], latents.dynamic.logvar[:n])
        terms["mi_static_dynamic"] = static_dynamic_mi(
            f[:n], static, z[:n], dynamic, c.dataset_size, c.mi_logvar_as_log_std
        )
        contrastive, weighted = self.sample_and_predict(
            static, self.natural_order(dynamic), c.n_windows
        )
        terms.update(contrastive)
        total = total + c.w_mi * terms["mi_static_dynamic"] + weighted
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}

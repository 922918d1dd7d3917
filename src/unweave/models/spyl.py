"""SPYL: sample and predict your latent (Naiman, Berman & Azencot, ICML 2023, arXiv
2305.15924); reference code azencot-group/SPYL.

C-DSVAE's network (``cdsvae/model.py:106-136``: one bi-LSTM, f from its end states through
plain Linear heads, z from a forward RNN over its outputs; the learned LSTM prior), its ELBO
and MI penalty, and contrastive terms whose views come from the model itself, not from
augmentations (``train.py:77-144``, ``sample_and_predict.py``):

* *sample*: each step, without gradients, 4B clips decoded from prior draws (f ~ N(0, I),
  z from the learned prior's means) and encoded again: a bank of posteriors;
* *predict*: the content positive decodes f's mean with fresh prior dynamics and encodes it
  again; the motion positive decodes z's means with f ~ N(0, I) and encodes it again;
* InfoNCE of f (and of z averaged over time) against its positive and the 256 bank means
  farthest from it by KL, cosine similarity at temperature 0.5;
* loss 10 SSE + 5 KL(f) + KL(z) + MI(f; z), plus the two InfoNCE terms (weight 1) from
  epoch 50 on (``--c_loss 50 --c_floss 1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unweave.data.base import SequenceData
from unweave.models.cdsvae import PenalisedConfig, penalised_elbo
from unweave.models.dsvae import DSVAE
from unweave.nn.gaussian import Gaussian
from unweave.nn.mutual_information import info_nce_with_negatives, training_set_size


@dataclass
class SampleAndPredictSettings:
    """SPYL's own terms: their weights, warm-up, temperature, negatives and bank."""

    w_content: float = 1.0  # --c_floss: both contrastive weights once warm
    w_motion: float = 1.0
    warmup_epochs: int = 50  # --c_loss: the contrastive terms start at this epoch
    temperature: float = 0.5  # train.py:247
    negatives: int = 256  # --cneg, the farthest of the bank by KL (--neg_mode soft)
    bank_factor: int = 4  # the bank holds bank_factor x batch prior draws (train.py:106)
    # The reference draws the bank also during the warm-up, where no term uses it; in train
    # mode it still moves the batch-norm running statistics. False skips it there.
    bank_during_warmup: bool = True


@dataclass
class SPYLConfig(PenalisedConfig, SampleAndPredictSettings):
    """SPYL sizes, weights and schedule; defaults are the reference ``train.py``'s (its
    network, ``train.py:35-38``, is C-DSVAE's)."""

    static_head_activation: str = "linear"  # s_mean, s_logvar: plain Linear (model.py:130-131)
    w_seq: float = 10.0  # --weight_rec
    w_kl_static: float = 5.0  # --weight_s
    w_kl_dynamic: float = 1.0  # --weight_d


class SampleAndPredict:
    """Mixin: SPYL's terms for a sequential VAE with ``encode``, ``decode``,
    ``sample_static`` and ``sample_dynamic`` whose config has
    :class:`SampleAndPredictSettings`; the model remembers the epoch (for the warm-up)."""

    def __init__(self, config: SampleAndPredictSettings) -> None:
        super().__init__(config)  # type: ignore[call-arg]
        # The epoch training is in, kept with the weights so a resumed run knows it.
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))  # type: ignore[attr-defined]

    def start_epoch(self, data: SequenceData, epoch: int, seed: int) -> None:
        """Called by the training loop as each epoch starts."""
        self.epoch.fill_(epoch)

    def sample_and_predict(
        self, static: Gaussian, dynamic: Gaussian, steps: int
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | float]:
        """The InfoNCE terms of posteriors ``(B, F)`` and ``(B, steps, Z)`` once the warm-up
        is over (no terms before), and their weighted sum."""
        c: SampleAndPredictSettings = self.config  # type: ignore[attr-defined]
        warm = int(self.epoch) >= c.warmup_epochs
        if warm or c.bank_during_warmup:
            with torch.no_grad():
                bank_static, bank_dynamic = self.sample_bank(
                    c.bank_factor * len(static.mean), steps
                )
        if not warm:
            return {}, 0.0
        content, motion = self.predict_terms(static, dynamic, bank_static, bank_dynamic, steps)
        terms = {"nce_content": content, "nce_motion": motion}
        return terms, c.w_content * content + c.w_motion * motion

    def sample_bank(self, n: int, steps: int) -> tuple[Gaussian, Gaussian]:
        """*Sample*: ``n`` sequences decoded from prior draws and encoded again; their static
        posteriors ``(n, F)`` and time-averaged dynamic posteriors ``(n, Z)``."""
        latents = self.encode(self.decode(self.sample_static(n), self.sample_dynamic(n, steps)))
        return latents.static, time_average(latents.dynamic)

    def predict_terms(
        self,
        static: Gaussian,
        dynamic: Gaussian,
        bank_static: Gaussian,
        bank_dynamic: Gaussian,
        steps: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """*Predict*: InfoNCE of f's mean and of z's time-averaged mean against the code of
        the sequence decoded with the other code drawn from the prior, and the bank's
        farthest."""
        c: SampleAndPredictSettings = self.config  # type: ignore[attr-defined]
        n = len(static.mean)
        content_view = self.decode(static.mean, self.sample_dynamic(n, steps))
        motion_view = self.decode(self.sample_static(n), dynamic.mean)
        content = self.encode(content_view).static.mean
        motion = self.encode(motion_view).dynamic.mean.mean(1)
        dynamic_avg = time_average(dynamic)
        nce_content = info_nce_with_negatives(
            static.mean, content, farthest(static, bank_static, c.negatives), c.temperature
        )
        nce_motion = info_nce_with_negatives(
            dynamic_avg.mean, motion, farthest(dynamic_avg, bank_dynamic, c.negatives),
            c.temperature,
        )  # fmt: skip
        return nce_content, nce_motion


class SPYL(SampleAndPredict, DSVAE):
    """SPYL for video: frames ``(B, T, C, H, W)`` -> static ``(B, f_dim)``, dynamic
    ``(B, T, z_dim)``; the contrastive terms start after ``warmup_epochs`` epochs."""

    name = "spyl"
    config_class = SPYLConfig
    settings_from_data = staticmethod(training_set_size)

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        terms, latents, _, total = penalised_elbo(self, x)
        contrastive, weighted = self.sample_and_predict(latents.static, latents.dynamic, x.shape[1])
        terms.update(contrastive)
        return {"loss": total + weighted, **{k: v.detach() for k, v in terms.items()}}


def time_average(dynamic: Gaussian) -> Gaussian:
    """A dynamic posterior ``(B, T, Z)`` summarised as the reference does: its means and its
    log-variances averaged over time, ``(B, Z)`` (``train.py:127-131``)."""
    return Gaussian(dynamic.mean.mean(1), dynamic.logvar.mean(1))


def farthest(posterior: Gaussian, bank: Gaussian, count: int) -> torch.Tensor:
    """For each of ``posterior``'s ``(B, D)`` Gaussians, the means of the ``count`` bank
    Gaussians ``(K, D)`` farthest from it by KL(posterior || bank): ``(B, count, D)``
    (all K when ``count`` exceeds K, as the reference's slice)."""
    with torch.no_grad():  # the choice of negatives carries no gradient
        order = posterior.pairwise_kl(bank).argsort(dim=-1, descending=True)[:, :count]
    return bank.mean[order]

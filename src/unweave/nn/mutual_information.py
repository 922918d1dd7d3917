"""Minibatch estimators of mutual information between codes and views.

:func:`info_nce` is the normalised-temperature cross-entropy (NT-Xent, SimCLR) that C-DSVAE
maximises between a clip's code and the code of its augmented view (``loss.py:5-42`` of
JunwenBai/C-DSVAE); :func:`info_nce_with_negatives` is SPYL's form, one positive and chosen
negatives per code (azencot-group/SPYL ``sample_and_predict.py:7-40``);
:func:`static_dynamic_mi` is the penalty both put on the mutual information between the
static code and each step's dynamic code (``train_cdsvae.py:114-134``, SPYL
``cdsvae/utils.py:113-135``), with densities estimated over the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from unweave.nn.gaussian import Gaussian


def info_nce(codes: torch.Tensor, views: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent of ``(B, D)`` codes and their views: each of the 2B vectors should find its
    pair among the other 2B - 1 by cosine similarity / ``temperature``; the mean loss.

    As the reference, the denominator keeps the positive and removes the self-similarity
    as ``exp(1 / temperature)`` (the cosine of a vector with itself)."""
    both = torch.cat([codes, views])
    norms = both.norm(dim=1)
    cosine = (both @ both.T) / (norms[:, None] * norms[None]).clamp_min(1e-16)
    batch = len(codes)
    positive = torch.cat([cosine.diagonal(batch), cosine.diagonal(-batch)])
    others = torch.exp(cosine / temperature).sum(dim=1) - math.exp(1 / temperature)
    return (torch.log(others) - positive / temperature).mean()


def info_nce_with_negatives(
    codes: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, temperature: float
) -> torch.Tensor:
    """``mean_i -log(e_i+ / (e_i+ + sum_k e_ik-))`` with ``e = exp(cosine / temperature)``:
    codes and positives ``(B, D)``, negatives ``(B, K, D)``."""
    positive = F.cosine_similarity(codes, positives, dim=-1, eps=0.0) / temperature
    negative = F.cosine_similarity(codes[:, None], negatives, dim=-1, eps=0.0) / temperature
    scores = torch.cat([positive[:, None], negative], dim=1)
    return (torch.logsumexp(scores, dim=1) - positive).mean()


@dataclass
class MIPenaltySettings:
    """The settings of :func:`static_dynamic_mi` as a model's loss adds it."""

    w_mi: float = 1.0  # the reference adds the penalty unweighted (train_cdsvae.py:136)
    # N in the estimate's log(B N): the training set's size (train_cdsvae.py:229; Sprites:
    # 9000), set from the training data when a run starts (training_set_size).
    dataset_size: int = 9000
    # The reference's density reads log-variances as log standard deviations.
    mi_logvar_as_log_std: bool = True


def training_set_size(data: Any) -> dict[str, int]:
    """The ``dataset_size`` setting of a model with :func:`static_dynamic_mi`: the size of
    its training set (the reference's ``opt.dataset_size = len(train_data)``)."""
    return {"dataset_size": len(data)}


def static_dynamic_mi(
    static: torch.Tensor,
    static_posterior: Gaussian,
    dynamic: torch.Tensor,
    dynamic_posterior: Gaussian,
    dataset_size: int,
    logvar_as_log_std: bool = True,
) -> torch.Tensor:
    """``mean over t, i of ReLU(log q(f_i, z_ti) - log q(f_i) - log q(z_ti))``, each
    aggregate posterior ``log q(c) ~ logsumexp_j log q(c | x_j) - log(B * dataset_size)``.

    ``static`` ``(B, F)`` and ``dynamic`` ``(B, T, Z)`` are posterior samples. The reference
    hands log-variances to a density that takes log standard deviations
    (``mutual_info.py:18-25``); ``logvar_as_log_std=False`` uses the log-variances as such.
    """
    batch = len(static)
    log_f = _pairwise_log_density(static, static_posterior, logvar_as_log_std)  # (B, B)
    log_z = _pairwise_log_density(
        dynamic.transpose(0, 1),
        Gaussian(dynamic_posterior.mean.transpose(0, 1), dynamic_posterior.logvar.transpose(0, 1)),
        logvar_as_log_std,
    )  # (T, B, B)
    norm = math.log(batch * dataset_size)
    log_q_f = torch.logsumexp(log_f, dim=-1) - norm
    log_q_z = torch.logsumexp(log_z, dim=-1) - norm
    log_q_fz = torch.logsumexp(log_f + log_z, dim=-1) - norm
    return F.relu(log_q_fz - log_q_f - log_q_z).mean()


def _pairwise_log_density(
    samples: torch.Tensor, posterior: Gaussian, logvar_as_log_std: bool
) -> torch.Tensor:
    """``log q(samples_i | x_j)`` summed over dimensions: ``(..., B, D)`` -> ``(..., B, B)``.

    The square ``sum_d ((s_id - m_jd) / sigma_jd)^2`` is expanded into three matrix products,
    so memory grows with ``B^2``, not ``B^2 D`` (the reference's broadcast form needs
    ``T B^2 D`` floats, gigabytes for the hundreds of speech chunks in a batch); samples and
    means are centred on the batch's mean sample and the products run in float64, so the
    cancellation stays below float32's rounding even for posteriors as sharp as std 1e-4."""
    log_std = posterior.logvar if logvar_as_log_std else 0.5 * posterior.logvar
    centre = samples.detach().mean(dim=-2, keepdim=True)
    s, m = (samples - centre).double(), (posterior.mean - centre).double()
    precision = torch.exp(-2 * log_std.double())  # (..., B, D), of the posterior j
    square = (
        (s * s) @ precision.transpose(-1, -2)
        - 2 * s @ (m * precision).transpose(-1, -2)
        + (m * m * precision).sum(-1)[..., None, :]
    )
    normaliser = log_std.sum(-1)[..., None, :] + 0.5 * samples.shape[-1] * math.log(2 * math.pi)
    return -0.5 * square.clamp_min(0).to(samples.dtype) - normaliser

"""The beta-VAE family on 64x64 images: beta-VAE, beta-TCVAE and FactorVAE.

All three are the models of disentanglement_lib's ``unsupervised_study_v1`` (Locatello et al.,
ICML 2019; code google-research/disentanglement_lib, cited below as *dlib*): one Gaussian
encoder, one decoder and one reconstruction loss, and a regulariser per model (dlib's
``BaseVAE.regularizer``):

* **beta-VAE** (Higgins et al., ICLR 2017): ``rec + beta * KL``.
* **beta-TCVAE** (Chen et al., NeurIPS 2018; alpha = gamma = 1): ``rec + KL + (beta - 1) * TC``
  with TC estimated on the batch by minibatch-weighted sampling (:func:`total_correlation`).
* **FactorVAE** (Kim & Mnih, ICML 2018): ``rec + KL + gamma * TC`` with TC the discriminator's
  mean logit difference (real minus permuted); the discriminator learns to tell sampled codes
  from codes whose columns were shuffled across the batch (:func:`permute_dims`). It has its
  own optimiser, so :class:`FactorVAEModule` trains it.

Sources in dlib: ``methods/shared/architectures.py`` (``conv_encoder``, ``deconv_decoder``,
``fc_discriminator``, ``make_discriminator``), ``methods/shared/losses.py``
(``bernoulli_loss``), ``methods/unsupervised/vae.py`` (``BaseVAE.model_fn``, the regularisers,
``total_correlation``, ``shuffle_codes``, ``FactorVAE.model_fn``) and
``config/unsupervised_study_v1/{model_configs/shared.gin,sweep.py}``.

**Architecture** (images ``(B, C, 64, 64)``, ``C`` = 1 for dSprites, 3 for 3DShapes):

* encoder: conv 32 (4x4, stride 2) -> conv 32 (4x4, stride 2) -> conv 64 (**2x2**, stride 2) ->
  conv 64 (**2x2**, stride 2), ReLU after each; flatten (64 x 4 x 4) -> Dense 256 + ReLU ->
  two Dense heads to the mean and the log-variance of ``latents`` codes. dlib's code uses 2x2
  kernels for the last two convolutions (4x4 for the first two); that is kept here.
* decoder: Dense 256 + ReLU -> Dense 1024 + ReLU, reshaped to 64 x 4 x 4 -> transposed convs
  4x4 stride 2 to 64, 32, 32 channels (ReLU) and to ``C`` channels: Bernoulli logits.
* TF's ``"same"`` padding is symmetric for these sizes: padding 1 for the 4x4 stride-2 layers
  (convs and transposed convs), 0 for the 2x2 ones, so the output sizes and the receptive
  fields are TF's. TF flattens NHWC and PyTorch NCHW: the Dense layers after a flatten and
  before a reshape see their units in another order, which changes nothing else.
* Initialisation: TF1's ``tf.layers`` defaults, Glorot uniform weights and zero biases, for
  every layer (:func:`init_tf_weights`).

**Loss** (dlib ``BaseVAE.model_fn``): ``rec`` is the sigmoid cross-entropy of the logits with
the pixel intensities, summed over pixels (``bernoulli_loss`` with its default
``subtract_true_image_entropy=False``); ``KL`` is the closed-form KL to N(0, I) summed over
latents; both are batch means. One reparameterised sample ``z`` per image feeds the decoder,
the TC estimate and the discriminator. Every term except ``"loss"`` is returned detached.

**Training** (dlib ``shared.gin``): batch 64, 300,000 steps, Adam lr 1e-4, betas (0.9, 0.999),
eps 1e-8 (:data:`REFERENCE_OPTIM`, :data:`REFERENCE_BATCH_SIZE`, :data:`REFERENCE_STEPS`).
beta-VAE and beta-TCVAE train with the library's generic module, whose Adam comes from the
run's ``optim`` section. TF's Adam adds ``eps`` to ``sqrt(v)`` before the bias correction and
PyTorch after it; with eps 1e-8 the difference is negligible.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn

from unweave.errors import UnweaveError
from unweave.models.base import Latents, check_images, example_images, image_batch
from unweave.nn.gaussian import Gaussian
from unweave.settings import check_number, config_from_dict

IMAGE_SIZE = 64  # dlib's conv_encoder / deconv_decoder are written for 64x64 observations
#: The VAE optimiser of dlib's study (shared.gin: vae/AdamOptimizer; eps 1e-8 is PyTorch's).
REFERENCE_OPTIM: dict[str, Any] = {
    "name": "adam",
    "lr": 1e-4,
    "betas": [0.9, 0.999],
    "weight_decay": 0.0,
}
REFERENCE_BATCH_SIZE = 64  # shared.gin: model.batch_size
REFERENCE_STEPS = 300_000  # shared.gin: model.training_steps
#: The hyper-parameter each model sweeps in dlib's study (sweep.py, get_default_models).
STUDY_GRIDS: dict[str, dict[str, tuple[float, ...]]] = {
    "beta-vae": {"beta": (1.0, 2.0, 4.0, 6.0, 8.0, 16.0)},
    "beta-tcvae": {"beta": (1.0, 2.0, 4.0, 6.0, 8.0, 10.0)},
    "factor-vae": {"gamma": (10.0, 20.0, 30.0, 40.0, 50.0, 100.0)},
}
PROBABILITY_CLIP = 1e-6  # dlib make_discriminator: probs clipped to [1e-6, 1 - 1e-6]
LEAKY_SLOPE = 0.2  # tf.nn.leaky_relu's default alpha (fc_discriminator)
DISCRIMINATOR_BATCHES = ("same", "split")


@dataclass
class ImageVAEConfig:
    """Sizes shared by the three models. Defaults: dlib's study on dSprites."""

    channels: int = 1  # dSprites is grey; 3 for colour data (3DShapes, colour dSprites)
    latents: int = 10  # shared.gin: encoder.num_latent = 10

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "model") -> ImageVAEConfig:
        """Build from a dict, naming unknown keys and impossible values."""
        config = config_from_dict(cls, values, where)
        config.check(where)
        return config

    def check(self, where: str = "model") -> None:
        """Raise UnweaveError, in one sentence, for a setting the model cannot use."""
        for key in ("channels", "latents"):
            check_number(f"{where}.{key}", getattr(self, key), whole=True, low=1)


def check_weight(where: str, key: str, value: Any) -> None:
    """A regulariser weight must be a number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise UnweaveError(f"{where}.{key} is {value!r}; expected a number >= 0.")


@dataclass
class BetaVAEConfig(ImageVAEConfig):
    """beta-VAE. ``beta`` 1 is shared.gin's ``vae.beta`` (the study sweeps
    :data:`STUDY_GRIDS`; beta 1 is the plain VAE)."""

    beta: float = 1.0  # shared.gin: vae.beta = 1.

    def check(self, where: str = "model") -> None:
        super().check(where)
        check_weight(where, "beta", self.beta)


@dataclass
class BetaTCVAEConfig(ImageVAEConfig):
    """beta-TCVAE. dlib has no default for ``beta_tc_vae.beta`` (``gin.REQUIRED``); 6 is a value
    of the study's grid chosen here, not a value read from dlib or the paper."""

    beta: float = 6.0  # not from dlib (gin.REQUIRED); one of the study's grid 1..10

    def check(self, where: str = "model") -> None:
        super().check(where)
        check_weight(where, "beta", self.beta)


@dataclass
class FactorVAEConfig(ImageVAEConfig):
    """FactorVAE and its discriminator. dlib has no default for ``factor_vae.gamma``
    (``gin.REQUIRED``); 40 is a value of the study's grid chosen here (not verified against the
    paper's dSprites setting).

    ``discriminator_batch`` chooses the codes the discriminator learns from:

    * ``"same"`` (default, dlib's ``FactorVAE.model_fn``): the sampled codes of the VAE's own
      batch and their permutation, from the same forward pass as the VAE loss. Chosen because
      this library reproduces dlib's study.
    * ``"split"`` (Kim & Mnih's Algorithm 1): the loader batch is split in halves; the VAE
      trains on the first, and the discriminator sees the first half's codes against the
      permuted codes of the second half, an independent batch, encoded after the VAE's update.
      Halving one loader batch (set ``train.batch_size`` to 128 for the paper's 64 + 64) keeps
      the generic loader, seeding and resumption; a second loader would need its own.
    """

    gamma: float = 40.0  # not from dlib (gin.REQUIRED); one of the study's grid 10..100
    discriminator_layers: int = 6  # fc_discriminator: d1..d6
    discriminator_units: int = 1000  # fc_discriminator: Dense 1000, leaky ReLU (0.2)
    discriminator_lr: float = 1e-4  # shared.gin: discriminator/AdamOptimizer.learning_rate
    discriminator_betas: list[float] = field(default_factory=lambda: [0.5, 0.9])  # beta1, beta2
    discriminator_batch: str = "same"

    def check(self, where: str = "model") -> None:
        super().check(where)
        check_weight(where, "gamma", self.gamma)
        for key in ("discriminator_layers", "discriminator_units"):
            check_number(f"{where}.{key}", getattr(self, key), whole=True, low=1)
        if not self.discriminator_lr > 0:
            raise UnweaveError(
                f"{where}.discriminator_lr is {self.discriminator_lr!r}; expected a number > 0."
            )
        betas = self.discriminator_betas
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise UnweaveError(
                f"{where}.discriminator_betas is {betas!r}; expected two numbers in [0, 1)."
            )
        if self.discriminator_batch not in DISCRIMINATOR_BATCHES:
            raise UnweaveError(
                f"{where}.discriminator_batch is {self.discriminator_batch!r}; expected one of: "
                f"{', '.join(DISCRIMINATOR_BATCHES)}."
            )


def init_tf_weights(module: nn.Module) -> None:
    """TF1 ``tf.layers`` defaults: Glorot uniform weights, zero biases (Dense, conv, deconv).

    For a transposed convolution the Glorot bound depends on ``fan_in + fan_out``, which is the
    same whichever of PyTorch's or TF's kernel layouts is read.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)


def conv_trunk(channels: int) -> nn.Sequential:
    """dlib's ``conv_encoder`` up to its Dense 256 + ReLU: ``(B, C, 64, 64)`` -> ``(B, 256)``."""
    return nn.Sequential(
        nn.Conv2d(channels, 32, 4, stride=2, padding=1),  # 32 x 32
        nn.ReLU(),
        nn.Conv2d(32, 32, 4, stride=2, padding=1),  # 16 x 16
        nn.ReLU(),
        nn.Conv2d(32, 64, 2, stride=2),  # 8 x 8
        nn.ReLU(),
        nn.Conv2d(64, 64, 2, stride=2),  # 4 x 4
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, 256),
        nn.ReLU(),
    )


class ConvEncoder(nn.Module):
    """dlib's ``conv_encoder``: images ``(B, C, 64, 64)`` -> a Gaussian over ``(B, latents)``."""

    def __init__(self, channels: int, latents: int) -> None:
        super().__init__()
        self.features = conv_trunk(channels)
        self.mean = nn.Linear(256, latents)
        self.logvar = nn.Linear(256, latents)
        init_tf_weights(self)

    def forward(self, x: torch.Tensor) -> Gaussian:
        h = self.features(x)
        return Gaussian(self.mean(h), self.logvar(h))


class DeconvDecoder(nn.Module):
    """dlib's ``deconv_decoder``: codes ``(B, latents)`` -> Bernoulli logits ``(B, C, 64, 64)``."""

    def __init__(self, latents: int, channels: int) -> None:
        super().__init__()
        self.dense = nn.Sequential(
            nn.Linear(latents, 256),
            nn.ReLU(),
            nn.Linear(256, 1024),
            nn.ReLU(),
            nn.Unflatten(1, (64, 4, 4)),
        )
        self.deconvs = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 4, stride=2, padding=1),  # 8 x 8
            nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1),  # 16 x 16
            nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1),  # 32 x 32
            nn.ReLU(),
            nn.ConvTranspose2d(32, channels, 4, stride=2, padding=1),  # 64 x 64
        )
        init_tf_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.deconvs(self.dense(z))


class Discriminator(nn.Module):
    """dlib's ``fc_discriminator``: codes ``(B, latents)`` -> logits ``(B, 2)``; column 0 is
    "sampled from q(z)", column 1 "permuted"."""

    def __init__(self, latents: int, layers: int, units: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        for i in range(layers):
            blocks += [nn.Linear(latents if i == 0 else units, units), nn.LeakyReLU(LEAKY_SLOPE)]
        self.net = nn.Sequential(*blocks, nn.Linear(units, 2))
        init_tf_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def bernoulli_reconstruction(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """dlib's ``bernoulli_loss``: sigmoid cross-entropy of logits ``(B, C, H, W)`` with pixel
    intensities ``x`` in [0, 1], summed over pixels, averaged over the batch: a scalar."""
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]


def gaussian_log_density(z: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(z; mean, exp(logvar)), broadcast over the arguments' shapes."""
    return -0.5 * ((z - mean).pow(2) * torch.exp(-logvar) + logvar + math.log(2 * math.pi))


def total_correlation(z: torch.Tensor, posterior: Gaussian) -> torch.Tensor:
    """Minibatch estimate of the total correlation of the aggregate posterior, as dlib's
    ``total_correlation`` computes it: a scalar.

    ``z`` ``(B, D)`` holds one sample of each posterior ``(B, D)``. With ``q(z_j | x_i)`` for
    every pair, ``log q(z_j) ~ logsumexp_i log q(z_j | x_i) - log B`` and likewise per latent;
    the estimate is the batch mean of ``log q(z_j) - sum_l log q(z_jl)``. dlib drops every
    constant (its docstring names ``(D - 1) log(B N)``, ``N`` the data set size); here the
    batch stands for the data set (``N = 1``), which adds ``(D - 1) log B`` to dlib's value, so
    that independent codes give about 0. The constant changes no gradient.
    """
    batch, dims = z.shape
    log_q = gaussian_log_density(z[:, None], posterior.mean[None], posterior.logvar[None])
    log_joint = torch.logsumexp(log_q.sum(dim=2), dim=1)  # (B,): [j, i, l] summed over l, i
    log_marginals = torch.logsumexp(log_q, dim=1).sum(dim=1)  # (B,)
    return (log_joint - log_marginals).mean() + (dims - 1) * math.log(batch)


def permute_dims(z: torch.Tensor) -> torch.Tensor:
    """dlib's ``shuffle_codes``: each column of ``z`` ``(B, D)`` shuffled across the batch by
    its own random permutation: ``(B, D)`` with the marginals kept and the dependence broken."""
    order = torch.rand(z.shape, device=z.device).argsort(dim=0)
    return z.gather(0, order)


class ImageVAE(nn.Module):
    """Encoder, decoder and loss shared by the three models; a subclass adds its regulariser.

    Images are ``(B, C, 64, 64)`` with intensities in [0, 1].
    """

    name: ClassVar[str]
    modality: ClassVar[str] = "images"
    config_class: ClassVar[type[ImageVAEConfig]]

    def __init__(self, config: ImageVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = ConvEncoder(config.channels, config.latents)
        self.decoder = DeconvDecoder(config.latents, config.channels)

    def batch_inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor]:
        """A loader batch -> ``(x,)``, float images ``(B, C, 64, 64)`` in [0, 1]."""
        return image_batch(batch)

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        """A random batch of uint8 images ``(batch_size, channels, 64, 64)``."""
        return example_images(batch_size, self.config.channels, IMAGE_SIZE)

    def check_input(self, x: torch.Tensor) -> None:
        check_images(x, self.config.channels, IMAGE_SIZE, self.name)

    def encode(self, x: torch.Tensor) -> Latents:
        """Images ``(B, C, 64, 64)`` -> ``Latents(static=posterior over (B, latents))``."""
        self.check_input(x)
        return Latents(static=self.encoder(x), dynamic=None)

    @torch.no_grad()
    def representation(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, 64, 64)`` -> posterior means ``(B, latents)`` (dlib's ``mean``
        representation, which the classic metrics read)."""
        return self.encode(x).static.mean

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(B, latents)`` -> pixel probabilities ``(B, C, 64, 64)`` in [0, 1]."""
        return torch.sigmoid(self.decoder(z))

    def sample_static(self, n: int) -> torch.Tensor:
        """``n`` codes from the prior N(0, I): ``(n, latents)``."""
        ref = next(self.parameters())
        return torch.randn(n, self.config.latents, device=ref.device, dtype=ref.dtype)

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Images ``(B, C, 64, 64)`` -> ``{"loss", "reconstruction", "kl", "elbo", ...}``."""
        return self.loss_and_codes(x)[0]

    def loss_and_codes(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The terms of :meth:`loss` and the posterior sample ``z`` ``(B, latents)`` they used.

        ``"loss"`` = reconstruction + the model's regulariser; ``"elbo"`` = -(reconstruction +
        KL), per image; the model's own terms (``"tc"``) follow.
        """
        posterior = self.encode(x).static
        z = posterior.sample()
        reconstruction = bernoulli_reconstruction(self.decoder(z), x)
        kl = posterior.kl() / x.shape[0]
        penalty, extra = self.regulariser(posterior, z, kl)
        terms = {"reconstruction": reconstruction, "kl": kl, "elbo": -(reconstruction + kl)}
        terms.update(extra)
        detached = {key: value.detach() for key, value in terms.items()}
        return {"loss": reconstruction + penalty, **detached}, z

    def regulariser(
        self, posterior: Gaussian, z: torch.Tensor, kl: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """dlib's ``regularizer``: the term added to the reconstruction, and extra terms to log."""
        raise NotImplementedError

    def export_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)


class BetaVAE(ImageVAE):
    """beta-VAE: ``rec + beta * KL`` (dlib ``BetaVAE.regularizer``)."""

    name: ClassVar[str] = "beta-vae"
    config_class: ClassVar[type[ImageVAEConfig]] = BetaVAEConfig

    def regulariser(
        self, posterior: Gaussian, z: torch.Tensor, kl: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.config.beta * kl, {}


class BetaTCVAE(ImageVAE):
    """beta-TCVAE: ``rec + KL + (beta - 1) * TC`` (dlib ``BetaTCVAE.regularizer``), TC by
    :func:`total_correlation` on the batch."""

    name: ClassVar[str] = "beta-tcvae"
    config_class: ClassVar[type[ImageVAEConfig]] = BetaTCVAEConfig

    def regulariser(
        self, posterior: Gaussian, z: torch.Tensor, kl: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        tc = total_correlation(z, posterior)
        return kl + (self.config.beta - 1.0) * tc, {"tc": tc}


class FactorVAE(ImageVAE):
    """FactorVAE: ``rec + KL + gamma * TC`` with ``TC = mean(logit_real - logit_permuted)`` of
    the discriminator on the sampled codes (dlib ``FactorVAE.model_fn``); the discriminator's
    own loss is :meth:`discriminator_loss`. Trained by :class:`FactorVAEModule`."""

    name: ClassVar[str] = "factor-vae"
    config_class: ClassVar[type[ImageVAEConfig]] = FactorVAEConfig

    def __init__(self, config: FactorVAEConfig) -> None:
        super().__init__(config)
        c = config
        self.discriminator = Discriminator(c.latents, c.discriminator_layers, c.discriminator_units)

    @staticmethod
    def training_module(config: dict[str, Any]) -> FactorVAEModule:
        """The LightningModule that trains this model: its discriminator has its own optimiser."""
        return FactorVAEModule(config)

    def regulariser(
        self, posterior: Gaussian, z: torch.Tensor, kl: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        logits = self.discriminator(z)
        tc = (logits[:, 0] - logits[:, 1]).mean()
        return kl + self.config.gamma * tc, {"tc": tc}

    def discriminator_loss(
        self, z_real: torch.Tensor, z_other: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The discriminator's loss on sampled codes ``z_real`` ``(B, D)`` (label 0) and the
        permuted codes of ``z_other`` ``(B', D)`` (label 1), both detached here: ``{"loss",
        "discriminator_loss", "discriminator_accuracy"}``.

        dlib's ``-discr_loss``: ``-(mean log p0(real) + mean log p1(permuted)) / 2`` with the
        softmax probabilities clipped to ``[1e-6, 1 - 1e-6]`` (``make_discriminator``).
        """
        logits_real = self.discriminator(z_real.detach())
        logits_permuted = self.discriminator(permute_dims(z_other.detach()))
        log_p_real = clipped_log_probabilities(logits_real)[:, 0]
        log_p_permuted = clipped_log_probabilities(logits_permuted)[:, 1]
        loss = -0.5 * (log_p_real.mean() + log_p_permuted.mean())
        correct = torch.cat([logits_real.argmax(-1) == 0, logits_permuted.argmax(-1) == 1])
        return {
            "loss": loss,
            "discriminator_loss": loss.detach(),
            "discriminator_accuracy": correct.float().mean(),
        }


def clipped_log_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """``log(clip(softmax(logits), 1e-6, 1 - 1e-6))`` over the last axis, as dlib's
    ``make_discriminator`` clips the probabilities its loss takes the log of."""
    return torch.log(logits.softmax(-1).clamp(PROBABILITY_CLIP, 1 - PROBABILITY_CLIP))


class FactorVAEModule(pl.LightningModule):
    """Trains :class:`FactorVAE` with two optimisers (manual optimisation).

    ``config`` is a run configuration: ``config["model"]`` the :class:`FactorVAEConfig`
    settings, ``config["optim"]`` the VAE's Adam (as for every model; :data:`REFERENCE_OPTIM`
    when absent); the discriminator's Adam comes from the model settings (dlib: lr 1e-4,
    betas (0.5, 0.9)). Per batch: the VAE (encoder + decoder) steps on its loss, then the
    discriminator steps on :meth:`FactorVAE.discriminator_loss` (codes per
    ``discriminator_batch``). dlib groups both updates of one forward pass; here the
    discriminator's loss uses the same codes (detached) and its weights, which the VAE's step
    does not touch, so the updates are the same.

    Lightning counts both optimiser steps in ``trainer.global_step``, so ``trainer.max_steps``
    is twice the number of batches. dlib's two ``minimize`` calls both receive the global step,
    so its 300,000 FactorVAE "steps" also appear to be 150,000 iterations (read from the code,
    not checked by running it).
    """

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.automatic_optimization = False
        self.config = config
        self.model = FactorVAE(FactorVAEConfig.from_dict(config["model"]))

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """The VAE's Adam (or AdamW) from ``optim``; the discriminator's Adam."""
        optim, m = self.config.get("optim", REFERENCE_OPTIM), self.model
        vae_class = torch.optim.AdamW if optim["name"] == "adamw" else torch.optim.Adam
        vae = vae_class(
            [*m.encoder.parameters(), *m.decoder.parameters()],
            lr=optim["lr"],
            betas=tuple(optim["betas"]),
            weight_decay=optim["weight_decay"],
        )
        c = m.config
        discriminator = torch.optim.Adam(
            m.discriminator.parameters(), lr=c.discriminator_lr, betas=tuple(c.discriminator_betas)
        )
        return [vae, discriminator]

    def update(self, optimizer: Any, loss: torch.Tensor) -> None:
        optimizer.zero_grad()
        self.manual_backward(loss)
        optimizer.step()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        (x,) = self.model.batch_inputs(batch)
        opt_vae, opt_discriminator = self.optimizers()
        split = self.model.config.discriminator_batch == "split"
        if split:
            if len(x) < 2:
                raise UnweaveError(
                    "model.discriminator_batch 'split' needs batches of at least 2 images; "
                    f"got {len(x)}."
                )
            x, x_other = x[: len(x) // 2], x[len(x) // 2 :]
        terms, z = self.model.loss_and_codes(x)
        self.update(opt_vae, terms["loss"])
        z_other = z
        if split:
            with torch.no_grad():
                z_other = self.model.encode(x_other).static.sample()
        discriminator_terms = self.model.discriminator_loss(z, z_other)
        self.update(opt_discriminator, discriminator_terms["loss"])
        self.log("loss", terms["loss"], prog_bar=True, batch_size=len(x))
        logged = {**terms, **{k: v for k, v in discriminator_terms.items() if k != "loss"}}
        self.log_dict({f"train/{k}": v for k, v in logged.items()}, batch_size=len(x))

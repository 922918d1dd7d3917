"""Two-Step Disentanglement (Hadad, Wolf, Shahar, CVPR 2018; arXiv 1709.00199).

Reference code naamahadad/A-Two-Step-Disentanglement-Method (Keras 2 + Theano): ``DisAdvNet2.py``
with ``train_proc.py`` (MNIST) and ``DisAdvNet.py`` with ``test_net.py`` (Sprites); facts in
reference/methods.md §B. An image is split into ``S``, a code of one labelled factor, and
``Z``, a code of everything else:

* **Step 1.** The S-encoder and the S-classifier learn the label by cross-entropy (Adam 1e-4,
  ``step1_epochs`` = 40), then are frozen; S is then computed in inference mode (the script
  precomputes it with ``EncS.predict``).
* **Step 2.** On *every* batch the adversary learns the label from ``Z``: CE(Adv(Z), y) with
  SGD lr 0.01, on Z computed without gradient and in inference mode (``EncZ.predict``). On
  the batches with ``batch % dilute_batches == 0`` of the step-2 epochs with ``epoch %
  dilute_epochs == 0`` (``diluteDist = dilutedDistEpoch = 4``; epochs and batches counted from
  0, so step-2 epochs 0, 4, 8, ... and batches 0, 4, 8, ...), and *before* the adversary's
  update on that batch, the Z-encoder and the decoder minimise ``w_rec * L_rec + w_adv *
  CE(Adv(Z), y)`` with ``w_adv < 0`` (Adam 1e-4, beta1 0.5): the encoder raises the
  adversary's loss, it is not pushed towards a uniform prediction. The adversary runs in
  training mode (batch statistics) in both updates; in the encoder's update neither its
  weights nor its BatchNorm running statistics change (the frozen ``Adv`` inside the
  compiled ``DistNet`` contributes no updates in Keras 2.0).
* ``Z`` is deterministic (the reference overrides the VAE sampling with ``z = z_mean``).
* A batch is ``train.batch_size`` single fragments drawn i.i.d. across samples
  (:meth:`TwoStep.training_items`), as the script permutes the images of MNIST; 100 images
  (``params['batch_size']``, ``train_proc.py:20`` and ``test_net.py:39``).

Architecture (``filter_size`` 5, ``'same'`` padding as Theano's ``half``, ReLU everywhere):

* encoders: conv ``nf`` stride 2 -> conv ``nf/2`` stride 2 -> conv ``nf/2`` stride 1 ->
  flatten -> [Dense ``encoder_dense`` + BN + ReLU; MNIST only] -> Dense(dim) + ReLU, so both
  codes are non-negative;
* decoder: Dense(``nf/2 * H/4 * W/4``) + ReLU on ``[z, s]`` -> reshape ``(nf/2, H/4, W/4)`` ->
  2 x (conv ``nf/2`` + upsample x2 + ReLU) -> conv ``nf`` + ReLU -> conv to channels (linear
  output for MSE on standardised pixels, sigmoid for BCE);
* adversary: 3 x (Dense ``hidden`` + BN + ReLU) -> logits; S-classifier: ``classifier_layers``
  such layers (2 for MNIST, 3 for Sprites) -> logits.

Details kept from the reference: Keras initialisation (Dense: Glorot normal truncated at 2
std; conv: Glorot uniform; zero biases), Keras BatchNorm constants (momentum 0.99, eps
1e-3), Keras cross-entropies (probabilities clipped to ``[1e-7, 1 - 1e-7]``, so a confidently
wrong adversary caps the encoder's gain at ``-log 1e-7``), the loss means (MSE and BCE over
all pixels, CE over the batch), and MNIST's standardisation of pixels by the training set's
scalar mean and std (``standardise``; set them with :meth:`TwoStep.set_pixel_statistics`).

Differences from the reference, on purpose: step 2 starts from the S weights of the last
step-1 epoch (the script reloads its best-accuracy checkpoint, scored on the training set
itself); batches come from a shuffled loader with ``drop_last`` (the script's step-2 loop also
skips the last full batch of every epoch).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, default_collate

from unweave.data.fragments import FragmentData, FragmentTorchDataset
from unweave.errors import UnweaveError
from unweave.models.base import Latents
from unweave.nn.gaussian import Gaussian
from unweave.settings import config_from_dict

KERNEL = 5  # params['filter_size']
KERAS_EPSILON = 1e-7  # K.epsilon(): the clip of probabilities in Keras' cross-entropies
BN_EPS = 1e-3  # Keras BatchNormalization defaults (momentum 0.99 = PyTorch momentum 0.01)
BN_MOMENTUM = 0.01
RECON_LOSSES = ("mse", "bce")
LABELS = ("content", "style")


@dataclass
class TwoStepConfig:
    """Sizes, losses and the schedule. Defaults: the MNIST script (``train_proc.py``).

    Sprites (``test_net.py`` / ``DisAdvNet.py``): see :data:`SPRITES_SETTINGS`.
    """

    in_channels: int = 1  # params['RGB']
    height: int = 28  # params['original_dim'] (images are square there); a multiple of 4
    width: int = 28
    n_classes: int = 10  # params['s_clss']: values of the label S encodes
    nf: int = 16  # params['n_features']: conv widths nf and nf/2
    s_dim: int = 10
    z_dim: int = 16  # params['latent_dim']
    hidden: int = 64  # params['l_size']: width of the adversary and S-classifier layers
    encoder_dense: int = 256  # Dense+BN+ReLU before the code (DisAdvNet2); 0 = none (DisAdvNet)
    classifier_layers: int = 2  # hidden layers of the S-classifier (DisAdvNet: 3)
    adversary_layers: int = 3
    recon_loss: str = "mse"  # params['mseloss']: "mse" (linear output) or "bce" (sigmoid)
    standardise: bool = True  # (x - mean) / std of the training pixels, as train_proc.py
    w_rec: float = 5.0  # params['recweight']
    w_adv: float = -1.0  # params['advweight'] (must be <= 0: the encoder fights the adversary)
    lr_s: float = 1e-4  # step 1: Adam(lr=1e-4, beta_1=0.9)
    lr_dist: float = 1e-4  # step 2, Z-encoder + decoder: Adam(lr=1e-4, beta_1=0.5)
    beta1_dist: float = 0.5
    lr_adv: float = 0.01  # step 2, adversary: Keras 'sgd' (lr 0.01, no momentum)
    step1_epochs: int = 40  # step 2 runs for the rest of train.max_epochs (the script's
    # params['nb_epoch'] is 10000: it runs until stopped)
    dilute_batches: int = 4  # params['diluteDist']
    dilute_epochs: int = 4  # params['dilutedDistEpoch']
    label: str = "content"  # the factor S encodes: the fragments' "content" or their "style"

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "model") -> TwoStepConfig:
        """Build from a dict, naming unknown keys and impossible values."""
        config = config_from_dict(cls, values, where)
        if config.label not in LABELS:
            raise UnweaveError(
                f"{where}.label is '{config.label}'; expected one of: {', '.join(LABELS)}."
            )
        if config.recon_loss not in RECON_LOSSES:
            raise UnweaveError(
                f"{where}.recon_loss is '{config.recon_loss}'; expected one of: "
                f"{', '.join(RECON_LOSSES)}."
            )
        for name in ("height", "width"):
            value = getattr(config, name)
            if value < 4 or value % 4:
                raise UnweaveError(
                    f"{where}.{name} is {value}; expected a positive multiple of 4 (the "
                    "decoder upsamples H/4 x W/4 twice)."
                )
        if config.nf < 2 or config.nf % 2:
            raise UnweaveError(f"{where}.nf is {config.nf}; expected an even number >= 2.")
        if config.w_adv > 0:
            raise UnweaveError(
                f"{where}.w_adv is {config.w_adv}; expected a weight <= 0 (the Z-encoder "
                "raises the adversary's loss)."
            )
        for name in (
            "in_channels",
            "n_classes",
            "s_dim",
            "z_dim",
            "hidden",
            "classifier_layers",
            "adversary_layers",
            "step1_epochs",
            "dilute_batches",
            "dilute_epochs",
        ):
            if getattr(config, name) < 1:
                raise UnweaveError(f"{where}.{name} is {getattr(config, name)}; expected >= 1.")
        return config


#: The Sprites model of ``test_net.py`` / ``DisAdvNet.py`` (32x32 RGB in [0, 1], 318 training
#: identities, sigmoid + BCE; ``recweight`` 0.5 and ``swap2weight`` -0.01 are the defaults of
#: ``DisAdvNet.py``). A ``model`` section for :meth:`TwoStepConfig.from_dict`.
SPRITES_SETTINGS: dict[str, Any] = {
    "in_channels": 3,
    "height": 32,
    "width": 32,
    "n_classes": 318,
    "nf": 64,
    "s_dim": 32,
    "z_dim": 128,
    "hidden": 16,
    "encoder_dense": 0,
    "classifier_layers": 3,
    "recon_loss": "bce",
    "standardise": False,
    "w_rec": 0.5,
    "w_adv": -0.01,
}


def keras_cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Keras' categorical cross-entropy of ``(B, K)`` logits and ``(B,)`` labels, mean over the
    batch: the softmax probability of the label is clipped to ``[1e-7, 1 - 1e-7]`` (zero
    gradient outside), so the loss never exceeds ``-log 1e-7``."""
    p = logits.softmax(-1).gather(1, labels[:, None]).squeeze(1)
    return -p.clamp(KERAS_EPSILON, 1 - KERAS_EPSILON).log().mean()


def keras_binary_cross_entropy(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Keras' binary cross-entropy of sigmoid outputs, clipped to ``[1e-7, 1 - 1e-7]``; mean
    over every element."""
    p = probs.clamp(KERAS_EPSILON, 1 - KERAS_EPSILON)
    return -(target * p.log() + (1 - target) * (1 - p).log()).mean()


def dense_block(in_dim: int, out_dim: int) -> list[nn.Module]:
    """The reference's ``add_dense_layer``: Dense + BatchNorm + ReLU."""
    bn = nn.BatchNorm1d(out_dim, eps=BN_EPS, momentum=BN_MOMENTUM)
    return [nn.Linear(in_dim, out_dim), bn, nn.ReLU()]


def dense_classifier(in_dim: int, width: int, layers: int, n_classes: int) -> nn.Sequential:
    """``layers`` x (Dense ``width`` + BN + ReLU) -> Dense to ``(B, n_classes)`` logits."""
    blocks: list[nn.Module] = []
    for i in range(layers):
        blocks += dense_block(in_dim if i == 0 else width, width)
    return nn.Sequential(*blocks, nn.Linear(width, n_classes))


def conv(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """A 5x5 convolution with Theano's ``half`` padding (``'same'``)."""
    return nn.Conv2d(in_channels, out_channels, KERNEL, stride, padding=KERNEL // 2)


class ImageEncoder(nn.Module):
    """Images ``(B, C, H, W)`` (already standardised) -> non-negative codes ``(B, dim)``."""

    def __init__(self, config: TwoStepConfig, dim: int) -> None:
        super().__init__()
        c, half = config, config.nf // 2
        self.convs = nn.Sequential(
            conv(c.in_channels, c.nf, 2),
            nn.ReLU(),
            conv(c.nf, half, 2),
            nn.ReLU(),
            conv(half, half),
            nn.ReLU(),
            nn.Flatten(),
        )
        features = half * (c.height // 4) * (c.width // 4)
        dense = dense_block(features, c.encoder_dense) if c.encoder_dense else []
        self.head = nn.Sequential(*dense, nn.Linear(c.encoder_dense or features, dim), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(x))


class ImageDecoder(nn.Module):
    """Codes ``z`` ``(B, z_dim)`` and ``s`` ``(B, s_dim)`` -> raw outputs ``(B, C, H, W)``
    (standardised pixels for MSE, logits for BCE)."""

    def __init__(self, config: TwoStepConfig) -> None:
        super().__init__()
        c, half = config, config.nf // 2
        self.grid = (half, c.height // 4, c.width // 4)
        self.dense = nn.Sequential(nn.Linear(c.z_dim + c.s_dim, math.prod(self.grid)), nn.ReLU())
        self.convs = nn.Sequential(
            conv(half, half),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.ReLU(),
            conv(half, half),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.ReLU(),
            conv(half, c.nf),
            nn.ReLU(),
            conv(c.nf, c.in_channels),
        )

    def forward(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = self.dense(torch.cat([z, s], dim=-1))
        return self.convs(h.view(-1, *self.grid))


@contextmanager
def running_statistics_frozen(module: nn.Module) -> Iterator[None]:
    """Within: the BatchNorm layers of ``module`` normalise as their mode says (batch
    statistics in training) but leave their running statistics unchanged, as a frozen
    (``trainable = False``) Keras 2.0 layer inside a model trained by ``train_on_batch``."""
    layers = [m for m in module.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    tracked = [layer.track_running_stats for layer in layers]
    for layer in layers:
        layer.track_running_stats = False  # in training, PyTorch then leaves them alone
    try:
        yield
    finally:
        for layer, value in zip(layers, tracked, strict=True):
            layer.track_running_stats = value


class SingleFragments(Dataset):
    """Every fragment of a :class:`FragmentData` on its own, so that a loader draws them
    i.i.d. across samples: item ``i`` is fragment ``i % n`` of sample ``i // n`` as
    ``{"x": float32 (C, H, W), "content": (), "style": (), "index": ()}`` (``index`` = i)."""

    def __init__(self, data: FragmentData) -> None:
        self.samples = FragmentTorchDataset(data)
        self.n = data.x.shape[1]

    def __len__(self) -> int:
        return len(self.samples) * self.n

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample, fragment = divmod(index, self.n)
        item = self.samples[sample]
        return {
            "x": item["x"][fragment],
            "content": item["content"][fragment],
            "style": item["style"],
            "index": torch.tensor(index),
        }


def init_keras_weights(module: nn.Module) -> None:
    """Keras initialisation: Dense Glorot normal (truncated at 2 std), conv Glorot uniform,
    zero biases."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            std = math.sqrt(2.0 / (layer.in_features + layer.out_features))
            nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.Conv2d):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)


class TwoStep(nn.Module):
    """The five networks of Two-Step and their losses; trained by :class:`TwoStepModule`.

    Images everywhere are ``(B, C, H, W)`` in the data's range (e.g. [0, 1]); labels are
    ``(B,)`` int64 in ``[0, n_classes)``.
    """

    name: ClassVar[str] = "two-step"
    modality: ClassVar[str] = "fragments"
    config_class: ClassVar[type[TwoStepConfig]] = TwoStepConfig

    def __init__(self, config: TwoStepConfig) -> None:
        super().__init__()
        c = self.config = config
        self.s_encoder = ImageEncoder(c, c.s_dim)
        self.s_classifier = dense_classifier(c.s_dim, c.hidden, c.classifier_layers, c.n_classes)
        self.z_encoder = ImageEncoder(c, c.z_dim)
        self.decoder = ImageDecoder(c)
        self.adversary = dense_classifier(c.z_dim, c.hidden, c.adversary_layers, c.n_classes)
        self.register_buffer("pixel_mean", torch.tensor(0.0))
        self.register_buffer("pixel_std", torch.tensor(1.0))
        init_keras_weights(self)

    @staticmethod
    def training_module(config: dict[str, Any]) -> TwoStepModule:
        """The LightningModule that trains this model: its two steps need their own loop."""
        return TwoStepModule(config)

    def prepare_for_data(self, data: FragmentData) -> None:
        """Standardise by the scalar mean and (population) std of every training pixel, as
        ``train_proc.py`` does (read in blocks: the data may be memmapped)."""
        total, squares, count = 0.0, 0.0, 0
        for start in range(0, len(data), 256):
            block = np.asarray(data.x[start : start + 256], dtype=np.float64)
            total, squares, count = (
                total + block.sum(),
                squares + (block**2).sum(),
                count + block.size,
            )
        mean = total / count
        self.set_pixel_statistics(mean, math.sqrt(max(squares / count - mean**2, 0.0)))

    def training_items(self, data: FragmentData) -> tuple[Dataset, Callable]:
        """Single fragments with their labels, so a batch of ``train.batch_size`` of them is
        drawn i.i.d. across samples (not whole samples sharing one style)."""
        return SingleFragments(data), default_collate

    def batch_inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of :class:`SingleFragments` items (``x`` ``(B, C, H, W)``, ``content`` and
        ``style`` ``(B,)``) -> images ``(B, C, H, W)`` and their ``config.label`` ``(B,)``."""
        return batch["x"].float(), batch[self.config.label].long()

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        """Random images ``x`` ``(batch_size, C, H, W)`` in [0, 1] with random labels."""
        c = self.config
        return {
            "x": torch.rand(batch_size, c.in_channels, c.height, c.width),
            c.label: torch.randint(0, c.n_classes, (batch_size,)),
        }

    @torch.no_grad()
    def content_style_codes(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Fragments ``(B, n, C, H, W)`` -> content codes ``(B * n, .)`` and style codes
        ``(B * n, .)``: S for the labelled factor and Z for the other; no codebook atoms."""
        images = x.flatten(0, 1)
        s, z = self.encode_s(images), self.encode_z(images)
        return (s, z, None) if self.config.label == "content" else (z, s, None)

    @torch.no_grad()
    def decode_content_style(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """Codes of :meth:`content_style_codes`, ``(M, .)`` each -> images ``(M, C, H, W)``."""
        s, z = (content, style) if self.config.label == "content" else (style, content)
        return self.decode(z, s)

    def set_pixel_statistics(self, mean: float, std: float) -> None:
        """The training pixels' scalar mean and std, used when ``config.standardise``."""
        if not std > 0:
            raise UnweaveError(f"The pixel std is {std}; expected a positive number.")
        self.pixel_mean.fill_(float(mean))
        self.pixel_std.fill_(float(std))

    def check_input(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        c = self.config
        expected = (c.in_channels, c.height, c.width)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise UnweaveError(
                f"Two-Step takes images of shape (B, {c.in_channels}, {c.height}, {c.width}); "
                f"got {tuple(x.shape)}."
            )
        if labels is not None and (
            labels.shape != x.shape[:1] or labels.min() < 0 or labels.max() >= c.n_classes
        ):
            raise UnweaveError(
                f"Two-Step takes labels of shape ({len(x)},) in [0, {c.n_classes}) "
                f"(model.n_classes); got shape {tuple(labels.shape)} with values "
                f"{int(labels.min())}..{int(labels.max())}."
            )

    def standardised(self, x: torch.Tensor) -> torch.Tensor:
        """The encoders' input (and the MSE target): ``(x - mean) / std`` when standardising."""
        return (x - self.pixel_mean) / self.pixel_std if self.config.standardise else x

    # ------------------------------------------------------------------ the model contract

    def encode_s(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> the label code S ``(B, s_dim)`` (non-negative)."""
        self.check_input(x)
        return self.s_encoder(self.standardised(x))

    def encode_z(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> the code of everything else, Z ``(B, z_dim)``
        (deterministic, non-negative)."""
        self.check_input(x)
        return self.z_encoder(self.standardised(x))

    def encode(self, x: torch.Tensor) -> Latents:
        """Both codes as zero-variance Gaussians: ``static`` = S ``(B, s_dim)``, ``dynamic`` = Z
        ``(B, z_dim)`` (no time axis)."""
        s, z = self.encode_s(x), self.encode_z(x)
        return Latents(
            static=Gaussian(s, torch.full_like(s, -math.inf)),
            dynamic=Gaussian(z, torch.full_like(z, -math.inf)),
        )

    def decode(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Codes ``z`` ``(B, z_dim)`` and ``s`` ``(B, s_dim)`` -> images ``(B, C, H, W)`` in the
        data's range (un-standardised for MSE, sigmoid for BCE)."""
        out = self.decoder(z, s)
        if self.config.recon_loss == "bce":
            return torch.sigmoid(out)
        return out * self.pixel_std + self.pixel_mean if self.config.standardise else out

    @torch.no_grad()
    def swap(self, x_z: torch.Tensor, x_s: torch.Tensor) -> torch.Tensor:
        """Decode the Z of ``x_z`` with the S of ``x_s``: images ``(B, C, H, W)``."""
        return self.decode(self.encode_z(x_z), self.encode_s(x_s))

    # ------------------------------------------------------------------ losses

    def classifier_loss(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Step 1: ``{"loss": CE(Cls(S(x)), y), "ce_s", "acc_s"}``."""
        self.check_input(x, labels)
        logits = self.s_classifier(self.encode_s(x))
        ce = keras_cross_entropy(logits, labels)
        accuracy = (logits.argmax(-1) == labels).float().mean()
        return {"loss": ce, "ce_s": ce.detach(), "acc_s": accuracy}

    def loss(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Step 2, Z-encoder + decoder: ``{"loss": w_rec * rec + w_adv * CE(Adv(Z), y), "rec",
        "ce_adv", "acc_adv"}``; S comes from the (frozen) S-encoder without gradient, and the
        adversary's BatchNorm running statistics are left unchanged."""
        c = self.config
        self.check_input(x, labels)
        with torch.no_grad():
            s = self.encode_s(x)
        z = self.encode_z(x)
        out = self.decoder(z, s)
        if c.recon_loss == "bce":
            rec = keras_binary_cross_entropy(torch.sigmoid(out), x)
        else:
            rec = F.mse_loss(out, self.standardised(x))
        with running_statistics_frozen(self.adversary):
            logits = self.adversary(z)
        ce = keras_cross_entropy(logits, labels)
        accuracy = (logits.argmax(-1) == labels).float().mean()
        total = c.w_rec * rec + c.w_adv * ce
        return {"loss": total, "rec": rec.detach(), "ce_adv": ce.detach(), "acc_adv": accuracy}

    def adversary_loss(self, z: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Step 2, adversary: ``{"loss": CE(Adv(z), y), "adversary_ce", "adversary_acc"}`` on
        codes ``(B, z_dim)`` (detached here)."""
        logits = self.adversary(z.detach())
        ce = keras_cross_entropy(logits, labels)
        accuracy = (logits.argmax(-1) == labels).float().mean()
        return {"loss": ce, "adversary_ce": ce.detach(), "adversary_acc": accuracy}

    def export_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)


def encoder_update_due(step2_epoch: int, batch_idx: int, config: TwoStepConfig) -> bool:
    """Whether the Z-encoder and decoder update on this batch of step 2 (both counted from 0):
    on every ``dilute_batches``-th batch of every ``dilute_epochs``-th epoch, starting with
    batch 0 of step-2 epoch 0, as ``DisAdvNet2.train``'s counters do."""
    return step2_epoch % config.dilute_epochs == 0 and batch_idx % config.dilute_batches == 0


class TwoStepModule(pl.LightningModule):
    """Trains :class:`TwoStep` in the reference's two steps, with manual optimisation.

    ``config`` is a run configuration (``config["model"]`` the :class:`TwoStepConfig`
    settings). Epochs ``0 .. step1_epochs - 1`` are step 1; the rest of the Trainer's
    ``max_epochs`` are step 2. Batches are i.i.d. single fragments (see
    :meth:`TwoStep.training_items` and :meth:`TwoStep.batch_inputs`).
    When standardising, call ``module.model.prepare_for_data(train_data)`` before training
    (:func:`unweave.training.run.train` does).
    """

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.automatic_optimization = False
        self.config = config
        self.model = TwoStep(TwoStepConfig.from_dict(config["model"]))

    def in_step1(self) -> bool:
        return self.current_epoch < self.model.config.step1_epochs

    def on_train_start(self) -> None:
        """Set the parts' modes for the current epoch also when a run resumes mid-epoch
        (Lightning then skips ``on_train_epoch_start``)."""
        self.on_train_epoch_start()

    def on_train_epoch_start(self) -> None:
        """Freeze the S-encoder and S-classifier (no gradient, inference mode) in step 2."""
        frozen = not self.in_step1()
        for part in (self.model.s_encoder, self.model.s_classifier):
            part.requires_grad_(not frozen)
            part.train(not frozen)

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """S parts (Adam), Z-encoder + decoder (Adam, beta1 0.5), adversary (SGD)."""
        c, m = self.model.config, self.model
        s_params = [*m.s_encoder.parameters(), *m.s_classifier.parameters()]
        dist_params = [*m.z_encoder.parameters(), *m.decoder.parameters()]
        return [
            torch.optim.Adam(s_params, lr=c.lr_s, betas=(0.9, 0.999)),
            torch.optim.Adam(dist_params, lr=c.lr_dist, betas=(c.beta1_dist, 0.999)),
            torch.optim.SGD(m.adversary.parameters(), lr=c.lr_adv),
        ]

    def update(self, optimizer: Any, loss: torch.Tensor) -> None:
        optimizer.zero_grad()
        self.manual_backward(loss)
        optimizer.step()

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        x, labels = self.model.batch_inputs(batch)
        opt_s, opt_dist, opt_adv = self.optimizers()
        if self.in_step1():
            terms = self.model.classifier_loss(x, labels)
            self.update(opt_s, terms["loss"])
            self.log_dict({f"train/{k}": v for k, v in terms.items()}, batch_size=len(x))
            return
        step2_epoch = self.current_epoch - self.model.config.step1_epochs
        if encoder_update_due(step2_epoch, batch_idx, self.model.config):
            terms = self.model.loss(x, labels)
            self.update(opt_dist, terms["loss"])
            self.log_dict({f"train/{k}": v for k, v in terms.items()}, batch_size=len(x))
        encoder = self.model.z_encoder
        encoder.eval()  # the reference's EncZ.predict: inference-mode BatchNorm
        with torch.no_grad():
            z = self.model.encode_z(x)
        encoder.train()
        terms = self.model.adversary_loss(z, labels)
        self.update(opt_adv, terms["loss"])
        self.log_dict({f"train/{k}": v for k, v in terms.items()}, batch_size=len(x))

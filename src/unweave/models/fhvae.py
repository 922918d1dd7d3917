"""FHVAE: the factorized hierarchical VAE for speech (Hsu, Zhang & Glass, NeurIPS 2017).

Facts in reference/methods.md §A; reference code wnhsu/FactorizedHierarchicalVAE (the paper)
and wnhsu/ScalableFHVAE (hierarchical sampling). Names follow the **paper**: ``z1`` is the
*segment* latent (what is said), ``z2`` the *sequence* latent (who speaks) whose prior mean
``mu2_i`` is shared by every segment of sequence ``i``. (The original TF repo swaps the names.)

The model sees single segments of ``segment`` frames (20 frames = 200 ms at a 10 ms hop):

* ``q(z2|x)``: an LSTM over the frames; its final ``h`` (of every layer, concatenated, when
  ``rnn_layers`` > 1, as ScalableFHVAE) -> linear mean / log-variance;
* ``q(z1|x, z2)``: an LSTM over ``[frame; z2 sample]`` at each step, final ``h`` -> mean /
  log-variance;
* ``p(x|z1, z2)``: an LSTM fed ``[z1; z2]`` at every step; per-frame linear heads give the mean
  and log-variance of a diagonal Gaussian;
* priors: ``p(z1) = N(0, I)``, ``p(z2|mu2_i) = N(mu2_i, z2_prior_var I)``, ``p(mu2) = N(0, I)``.

Objective per segment ``n`` of sequence ``i`` (``N_i`` = segments of sequence ``i``), maximised:
``log p(x|z1, z2) - KL(q(z1)||p(z1)) - KL(q(z2)||p(z2|mu2_i)) + log p(mu2_i) / N_i
+ alpha * log p(i|z2)``, where ``p(i|z2)`` is a softmax over the rows ``j`` of the mu2 table
with logits ``-||mean q(z2|x) - mu2_j||^2 / (2 z2_prior_var)``. :meth:`FHVAE.loss` returns the
batch mean of its negative.

**The mu2 table.** With ``n_mu2 = 0`` (the paper) it has one trainable row per training
sequence, initialised N(0, I). ``N_i`` comes from the data through
:meth:`FHVAE.set_sequence_lengths`. With ``n_mu2 > 0`` (ScalableFHVAE's *hierarchical
sampling*) the table has ``n_mu2`` rows that stand for the sequences of the current *block*;
training cycles through blocks, each one:

1. draw ``n_mu2`` training sequences at random, without replacement;
2. encode all their segments and set the table to their closed-form estimates
   (:meth:`FHVAE.utterance_embeddings`), then :meth:`FHVAE.load_block`;
3. train one pass over the block's segments (shuffled); batches keep carrying the *global*
   sequence index, which the model maps to its table row. Then go to 1.

The table stays trainable within a block, and the softmax of the discriminative term runs
over the block's rows only, so neither memory nor cost grows with the corpus. Under DDP
every process must load the same block (draw it from a seed they share). Both modes are
kept: the paper's table (3,696 TIMIT sequences) is small, and the block mode is the faithful
way to scale, not an approximation of the paper's objective by a smaller table.

**Segments.** With ``seg_rand`` (both reference codes' ``rand_seg``, the presets) every pass
gives each sequence as many segments as it has stored ones, at starts drawn uniformly with
replacement (:class:`~unweave.data.random_segments.RandomSegments`); without it, the stored
segments cut every ``meta["shift"]`` frames. In block mode the block's mu2 estimate uses the
pass's own segments (ScalableFHVAE draws a second random set for it).

**Training (reference code, not part of the model):** Adam, lr 1e-3, betas (0.95, 0.999),
batches of 256 segments; an "epoch" is 2,000 steps, at most 500, early stop on the dev lower
bound with patience 50 (ScalableFHVAE: 100 epochs of 5,000 steps, patience 10). The original
repo also decays the learning rate by 0.8 and puts an L2 penalty of 1e-4 on its fully
connected layers; ScalableFHVAE has neither, and neither is part of this loss.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import default_collate

from unweave.data.random_segments import RandomSegments
from unweave.data.timeseries import SeriesData
from unweave.errors import UnweaveError
from unweave.models.base import Latents, swap_codes
from unweave.nn.gaussian import Gaussian, GaussianHead
from unweave.settings import check_number, config_from_dict, is_number

#: Variance of the prior p(mu2) = N(0, I) (both reference codes).
MU2_PRIOR_VAR = 1.0


@dataclass
class FHVAEConfig:
    """Sizes, priors and the mu2 table. Defaults: the paper's TIMIT model (methods.md §A)."""

    n_features: int = 80  # Kaldi FBank, 80 mel bins (reference data preparation)
    segment: int = 20  # frames per segment: 200 ms at a 10 ms hop (both reference codes)
    rnn_size: int = 256  # LSTM width of both encoders and the decoder (lstm_1L_256_lat_32_32)
    rnn_layers: int = 1  # 1 in the paper's config; ScalableFHVAE uses 2 (final h of all layers)
    z1_dim: int = 32  # segment latent (lstm_1L_256_lat_32_32)
    z2_dim: int = 32  # sequence latent (lstm_1L_256_lat_32_32)
    alpha: float = 10.0  # discriminative weight: configs ad0 / ad10; headline results use 10
    z2_prior_var: float = 0.25  # p(z2|mu2) = N(mu2, 0.5^2 I) (both reference codes)
    n_sequences: int = 3696  # training sequences: TIMIT train, 462 speakers x 8 SI/SX sentences
    n_mu2: int = (
        0  # 0: one table row per sequence (paper); >0: block size (ScalableFHVAE 2000-5000)
    )
    seg_rand: bool = False  # True: segment starts redrawn every pass (both codes' rand_seg)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "model") -> FHVAEConfig:
        """Build from a dict, naming unknown keys and impossible values."""
        config = config_from_dict(cls, values, where)
        for name in ("n_features", "segment", "rnn_size", "rnn_layers", "z1_dim", "z2_dim"):
            check_number(f"{where}.{name}", getattr(config, name), whole=True, low=1)
        check_number(f"{where}.n_sequences", config.n_sequences, whole=True, low=1)
        check_number(f"{where}.alpha", config.alpha, low=0)
        check_number(f"{where}.n_mu2", config.n_mu2, whole=True, low=0)
        if not is_number(config.z2_prior_var) or config.z2_prior_var <= 0:
            raise UnweaveError(
                f"{where}.z2_prior_var is {config.z2_prior_var!r}; expected a variance above 0 "
                "(the paper uses 0.25)."
            )
        if config.n_mu2 > config.n_sequences:
            raise UnweaveError(
                f"{where}.n_mu2 is {config.n_mu2}; expected at most n_sequences "
                f"({config.n_sequences}), or 0 for one table row per sequence."
            )
        return config


def log_normal(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise ``log N(x; mean, exp(logvar))`` (broadcasting)."""
    return -0.5 * (math.log(2 * math.pi) + logvar + (x - mean).pow(2) / logvar.exp())


def reset_lstm(rnn: nn.LSTM) -> None:
    """TensorFlow 1 ``BasicLSTMCell`` initialisation, which the reference code relies on.

    Glorot-uniform over the cell's joint ``[input + hidden, 4 hidden]`` kernel, zero biases,
    and ``forget_bias = 1`` added to the forget gate (PyTorch gate order: i, f, g, o).
    """
    hidden = rnn.hidden_size
    for layer in range(rnn.num_layers):
        w_ih = getattr(rnn, f"weight_ih_l{layer}")
        limit = math.sqrt(6.0 / (w_ih.shape[1] + hidden + 4 * hidden))
        with torch.no_grad():
            for weight in (w_ih, getattr(rnn, f"weight_hh_l{layer}")):
                weight.uniform_(-limit, limit)
            getattr(rnn, f"bias_hh_l{layer}").zero_()
            bias = getattr(rnn, f"bias_ih_l{layer}")
            bias.zero_()
            bias[hidden : 2 * hidden] = 1.0


def final_hidden(rnn: nn.LSTM, inputs: torch.Tensor) -> torch.Tensor:
    """The final ``h`` of every layer of ``rnn`` over ``inputs`` ``(B, T, D)``, concatenated:
    ``(B, layers * hidden)`` (ScalableFHVAE's summary of a segment)."""
    _, (h, _) = rnn(inputs)
    return h.transpose(0, 1).reshape(inputs.shape[0], -1)


def decode_segments(
    rnn: nn.LSTM, head: GaussianHead, codes: torch.Tensor, segment: int
) -> Gaussian:
    """``rnn`` fed ``codes`` ``(B, D)`` at each of ``segment`` frames, then ``head`` per frame:
    a diagonal Gaussian over ``(B, segment, F)``."""
    out, _ = rnn(codes[:, None].expand(-1, segment, -1))
    return head(out)


def check_segment_shape(x: torch.Tensor, segment: int, n_features: int, who: str) -> None:
    """One sentence unless ``x`` is ``(B, segment, n_features)``; ``who`` names the model."""
    if x.ndim != 3 or tuple(x.shape[1:]) != (segment, n_features):
        raise UnweaveError(
            f"{who} takes segments of shape (B, {segment}, {n_features}) (model.segment "
            f"frames of model.n_features features); got {tuple(x.shape)}."
        )


def reset_head(head: GaussianHead) -> None:
    """Xavier-uniform weights and zero biases (the reference's Gaussian layers)."""
    for linear in (head.mean, head.logvar):
        nn.init.xavier_uniform_(linear.weight)
        nn.init.zeros_(linear.bias)


class FHVAE(nn.Module):
    """The FHVAE on segments ``x`` ``(B, segment, n_features)``; see the module docstring.

    Before training, give it the segment count of every training sequence with
    :meth:`set_sequence_lengths`; with ``n_mu2 > 0``, load each block with :meth:`load_block`.
    """

    name: ClassVar[str] = "fhvae"
    modality: ClassVar[str] = "audio"
    config_class: ClassVar[type[FHVAEConfig]] = FHVAEConfig

    def __init__(self, config: FHVAEConfig) -> None:
        super().__init__()
        self.config = c = config
        summary = c.rnn_layers * c.rnn_size  # final h of every layer, concatenated
        self.z2_rnn = nn.LSTM(c.n_features, c.rnn_size, c.rnn_layers, batch_first=True)
        self.z2_head = GaussianHead(summary, c.z2_dim)
        self.z1_rnn = nn.LSTM(c.n_features + c.z2_dim, c.rnn_size, c.rnn_layers, batch_first=True)
        self.z1_head = GaussianHead(summary, c.z1_dim)
        self.decoder_rnn = nn.LSTM(c.z1_dim + c.z2_dim, c.rnn_size, c.rnn_layers, batch_first=True)
        self.decoder_head = GaussianHead(c.rnn_size, c.n_features)
        for rnn in (self.z2_rnn, self.z1_rnn, self.decoder_rnn):
            reset_lstm(rnn)
        for head in (self.z2_head, self.z1_head, self.decoder_head):
            reset_head(head)
        rows = c.n_mu2 or c.n_sequences
        self.mu2_table = nn.Parameter(torch.randn(rows, c.z2_dim))  # init N(0, I) (reference)
        #: N_i, the number of training segments of each sequence (0 until set from the data).
        self.register_buffer("sequence_lengths", torch.zeros(c.n_sequences))
        #: The table row of each training sequence; -1 for sequences outside the current block.
        rows_of = torch.arange(c.n_sequences) if not c.n_mu2 else torch.full((c.n_sequences,), -1)
        self.register_buffer("table_rows", rows_of)

    # ------------------------------------------------------------------ data-dependent state

    @staticmethod
    def settings_from_data(data: SeriesData) -> dict[str, int]:
        """The settings the training segments fix: feature count, segment length, sequences."""
        return {
            "n_features": int(data.x.shape[2]),
            "segment": int(data.x.shape[1]),
            "n_sequences": int(data.groups["utterance"].max()) + 1,
        }

    def prepare_for_data(self, data: SeriesData) -> None:
        """Set ``N_i`` from the training segments' ``groups["utterance"]``."""
        utterance = np.asarray(data.groups["utterance"])
        self.set_sequence_lengths(np.bincount(utterance, minlength=self.config.n_sequences))

    def set_sequence_lengths(self, counts: torch.Tensor | np.ndarray) -> None:
        """Store ``N_i``: ``counts`` ``(n_sequences,)``, the training segments of each sequence.

        For a data set that serves every segment once per epoch this is
        ``bincount(sequence, minlength=n_sequences)``; with random segment offsets it is the
        per-sequence segment count of the reference, ``(frames - segment) // shift + 1``.
        """
        counts = torch.as_tensor(counts)
        n = self.config.n_sequences
        if counts.shape != (n,):
            raise UnweaveError(
                f"Sequence lengths have shape {tuple(counts.shape)}; expected ({n},), one count "
                "per training sequence (model.n_sequences)."
            )
        if counts.is_floating_point() or (counts < 1).any():
            raise UnweaveError(
                "Sequence lengths must be whole numbers of at least 1 (segments per training "
                "sequence)."
            )
        self.sequence_lengths.copy_(counts)

    @torch.no_grad()
    def load_block(self, sequences: torch.Tensor, mu2: torch.Tensor) -> None:
        """Hierarchical sampling: make the table stand for ``sequences`` ``(n_mu2,)``.

        Row ``k`` of the table becomes ``mu2[k]`` ``(n_mu2, z2_dim)`` (the closed-form
        estimate of :meth:`utterance_embeddings`) and stands for training sequence
        ``sequences[k]``; every other sequence leaves the table until its next block.
        """
        c = self.config
        if not c.n_mu2:
            raise UnweaveError(
                "load_block is for hierarchical sampling; model.n_mu2 is 0 (one table row per "
                "sequence)."
            )
        sequences = torch.as_tensor(sequences, device=self.table_rows.device)
        if (
            sequences.shape != (c.n_mu2,)
            or sequences.is_floating_point()
            or len(sequences.unique()) != c.n_mu2
            or sequences.min() < 0
            or sequences.max() >= c.n_sequences
        ):
            raise UnweaveError(
                f"A block needs {c.n_mu2} distinct sequence indices in 0..{c.n_sequences - 1} "
                f"(model.n_mu2); got shape {tuple(sequences.shape)}."
            )
        if mu2.shape != (c.n_mu2, c.z2_dim):
            raise UnweaveError(
                f"The block's mu2 has shape {tuple(mu2.shape)}; expected ({c.n_mu2}, {c.z2_dim})."
            )
        self.table_rows.fill_(-1)
        self.table_rows[sequences] = torch.arange(c.n_mu2, device=sequences.device)
        self.mu2_table.copy_(mu2)

    def block_sequences(self, epoch: int, seed: int) -> np.ndarray:
        """The sorted training sequences of epoch ``epoch``'s block ``(n_mu2,)``: drawn
        without replacement from ``(seed, epoch)``, so every DDP process draws the same."""
        c = self.config
        rng = np.random.default_rng([seed, epoch])
        return np.sort(rng.choice(c.n_sequences, size=c.n_mu2, replace=False))

    def training_items(self, data: SeriesData) -> tuple[RandomSegments, Callable] | None:
        """With ``seg_rand``: every segment start of every training utterance
        (:class:`~unweave.data.random_segments.RandomSegments`, built once per data set), of
        which :meth:`training_rows` picks each pass's; otherwise None (the stored segments)."""
        if not self.config.seg_rand:
            return None
        if getattr(self, "_random_segments", (None, None))[0] is not data:
            self._random_segments = (data, RandomSegments(data))
        return self._random_segments[1], default_collate

    def training_rows(self, data: SeriesData, epoch: int, seed: int) -> np.ndarray | None:
        """The items epoch ``epoch`` trains on: the stored segments of its block (None: every
        segment, when ``n_mu2`` is 0), or with ``seg_rand`` as many segments of each of the
        block's sequences at random starts, drawn from ``(seed, epoch)``."""
        c = self.config
        if not c.seg_rand:
            if not c.n_mu2:
                return None
            return np.flatnonzero(
                np.isin(data.groups["utterance"], self.block_sequences(epoch, seed))
            )
        sequences = self.block_sequences(epoch, seed) if c.n_mu2 else np.arange(c.n_sequences)
        items, _ = self.training_items(data)
        return items.draw(sequences, np.random.default_rng([seed, epoch, 1]))

    def start_epoch(self, data: SeriesData, epoch: int, seed: int) -> None:
        """Hierarchical sampling: load epoch ``epoch``'s block, its rows set to the closed-form
        mu2 of the segments the epoch trains on (nothing to do when ``n_mu2`` is 0)."""
        if not self.config.n_mu2:
            return
        rows = self.training_rows(data, epoch, seed)
        if self.config.seg_rand:
            x, utterance = self.training_items(data)[0].segments(rows)
        else:
            x = torch.from_numpy(np.asarray(data.x[rows], dtype=np.float32))
            utterance = torch.from_numpy(data.groups["utterance"][rows].astype(np.int64))
        device = self.mu2_table.device
        was_training = self.training
        self.eval()
        mu2 = self.utterance_embeddings(x.to(device), utterance.to(device))
        self.train(was_training)
        self.load_block(torch.from_numpy(self.block_sequences(epoch, seed)).to(device), mu2)

    # ------------------------------------------------------------------ inputs

    def batch_inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """A loader batch -> ``(x (B, T, F) float, sequence (B,) int64)``; features are fully
        observed, so ``batch["mask"]`` is not used."""
        return batch["x"].float(), batch["sequence"].long()

    def example_batch(self, batch_size: int = 2) -> dict[str, torch.Tensor]:
        """Random segments ``x`` ``(batch_size, segment, n_features)`` of random sequences of
        the table. A model no data has prepared gets 10 segments per sequence as ``N_i`` and,
        with ``n_mu2 > 0``, the first ``n_mu2`` sequences as its block, so its loss runs."""
        c = self.config
        if not self.sequence_lengths.any():
            self.set_sequence_lengths(torch.full((c.n_sequences,), 10))
        if c.n_mu2 and not (self.table_rows >= 0).any():
            with torch.no_grad():
                self.load_block(torch.arange(c.n_mu2), torch.zeros(c.n_mu2, c.z2_dim))
        in_table = (self.table_rows >= 0).nonzero().flatten().cpu()
        return {
            "x": torch.randn(batch_size, c.segment, c.n_features),
            "sequence": in_table[torch.randint(0, len(in_table), (batch_size,))],
        }

    def check_input(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> None:
        check_segment_shape(x, self.config.segment, self.config.n_features, "FHVAE")
        if mask is not None and (mask.shape != x.shape or not bool(mask.all())):
            raise UnweaveError(
                "FHVAE takes fully observed features; the mask must have the shape of x and be "
                "all True."
            )

    # ------------------------------------------------------------------ the networks

    def encode_z2(self, x: torch.Tensor) -> Gaussian:
        """``q(z2|x)`` over ``(B, z2_dim)``."""
        return self.z2_head(final_hidden(self.z2_rnn, x))

    def encode_z1(self, x: torch.Tensor, z2: torch.Tensor) -> Gaussian:
        """``q(z1|x, z2)`` over ``(B, z1_dim)``; ``z2`` ``(B, z2_dim)`` is fed at every frame."""
        inputs = torch.cat([x, z2[:, None].expand(-1, x.shape[1], -1)], dim=-1)
        return self.z1_head(final_hidden(self.z1_rnn, inputs))

    def decoder(self, z1: torch.Tensor, z2: torch.Tensor) -> Gaussian:
        """``p(x|z1, z2)``: a diagonal Gaussian over ``(B, segment, n_features)``."""
        codes = torch.cat([z1, z2], dim=-1)
        return decode_segments(self.decoder_rnn, self.decoder_head, codes, self.config.segment)

    # ------------------------------------------------------------------ the model contract

    def encode(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> Latents:
        """Segments ``(B, T, F)`` -> static ``q(z2|x)`` ``(B, z2_dim)`` and dynamic
        ``q(z1|x, z2)`` ``(B, 1, z1_dim)`` (one z1 per segment), given the mean of ``q(z2|x)``
        as in the reference evaluation."""
        self.check_input(x, mask)
        q2 = self.encode_z2(x)
        q1 = self.encode_z1(x, q2.mean)
        return Latents(static=q2, dynamic=Gaussian(q1.mean[:, None], q1.logvar[:, None]))

    def decode(self, static: torch.Tensor, dynamic: torch.Tensor) -> torch.Tensor:
        """``z2`` ``(B, z2_dim)`` and ``z1`` ``(B, z1_dim)`` or ``(B, 1, z1_dim)`` -> the mean
        segment ``(B, segment, n_features)``."""
        return self.decoder(dynamic.reshape(len(dynamic), self.config.z1_dim), static).mean

    swap = swap_codes  # the static code of one series with the dynamics of another

    def sample_static(self, n: int) -> torch.Tensor:
        """``n`` draws of ``z2`` from its marginal prior N(0, (1 + z2_prior_var) I): ``(n, z2_dim)``."""
        ref = self.mu2_table
        std = math.sqrt(MU2_PRIOR_VAR + self.config.z2_prior_var)
        return std * torch.randn(n, self.config.z2_dim, device=ref.device, dtype=ref.dtype)

    def sample_dynamic(self, n: int) -> torch.Tensor:
        """``n`` draws of ``z1`` from N(0, I): ``(n, 1, z1_dim)``."""
        ref = self.mu2_table
        return torch.randn(n, 1, self.config.z1_dim, device=ref.device, dtype=ref.dtype)

    def loss(self, x: torch.Tensor, sequence: torch.Tensor) -> dict[str, torch.Tensor]:
        """Segments ``(B, T, F)`` of training sequences ``(B,)`` -> ``{"loss", "nll", "kl_z1",
        "kl_z2", "log_p_mu2", "discriminative", "mse"}``, each a batch mean.

        ``nll`` = -log p(x|z1, z2) summed over frames and features; ``log_p_mu2`` =
        log N(mu2_i; 0, I) before the division by ``N_i``; ``discriminative`` = the
        cross-entropy -log p(i|z2) that ``alpha`` weights; ``mse`` per cell, for reading.
        """
        c = self.config
        self.check_input(x)
        rows, n_segments = self._rows(sequence, len(x))
        q2 = self.encode_z2(x)
        z2 = q2.sample()
        q1 = self.encode_z1(x, z2)
        px = self.decoder(q1.sample(), z2)
        mu2 = self.mu2_table[rows]
        z2_logvar = torch.full_like(mu2, math.log(c.z2_prior_var))
        log_p_mu2 = log_normal(mu2, torch.zeros_like(mu2), torch.zeros_like(mu2)).sum(-1)
        logits = -(q2.mean[:, None] - self.mu2_table[None]).pow(2).sum(-1) / (2 * c.z2_prior_var)
        batch = len(x)
        terms = {
            "nll": -log_normal(x, px.mean, px.logvar).sum() / batch,
            "kl_z1": q1.kl() / batch,
            "kl_z2": q2.kl(Gaussian(mu2, z2_logvar)) / batch,
            "log_p_mu2": log_p_mu2.mean(),
            "discriminative": F.cross_entropy(logits, rows),
        }
        total = (
            terms["nll"]
            + terms["kl_z1"]
            + terms["kl_z2"]
            - (log_p_mu2 / n_segments).mean()
            + c.alpha * terms["discriminative"]
        )
        terms["mse"] = (px.mean.detach() - x).pow(2).mean()
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}

    def _rows(self, sequence: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Table rows ``(B,)`` and ``N_i`` ``(B,)`` of the batch's sequences, with one check."""
        n = self.config.n_sequences
        if sequence.shape != (batch,) or sequence.is_floating_point():
            raise UnweaveError(
                f"FHVAE needs one integer sequence index per segment, shape ({batch},); got "
                f"{tuple(sequence.shape)} of {sequence.dtype}."
            )
        inside = (sequence >= 0) & (sequence < n)
        safe = sequence.clamp(0, n - 1)
        rows, n_segments = self.table_rows[safe], self.sequence_lengths[safe]
        if not bool((inside & (rows >= 0) & (n_segments > 0)).all()):
            if not bool(inside.all()):
                raise UnweaveError(
                    f"Sequence indices must be in 0..{n - 1} (model.n_sequences is {n}); got "
                    f"{int(sequence.min())}..{int(sequence.max())}."
                )
            if not bool((n_segments > 0).all()):
                raise UnweaveError(
                    "The segment counts N_i of the training sequences are not set; call "
                    "set_sequence_lengths before training."
                )
            raise UnweaveError(
                "A segment's sequence is not in the current block of the mu2 table; load the "
                "block with load_block and train on its segments only."
            )
        return rows, n_segments

    # ------------------------------------------------------------------ utterance embeddings

    @torch.no_grad()
    def _segment_means(
        self, x: torch.Tensor, utterance: torch.Tensor, batch_size: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Posterior means of every segment: z2 ``(N, z2_dim)``, z1 ``(N, z1_dim)``, and the
        utterance of each segment as ``0..U-1`` in the order of the sorted utterance ids."""
        if utterance.shape != (len(x),) or utterance.is_floating_point():
            raise UnweaveError(
                f"Expected one integer utterance id per segment, shape ({len(x)},); got "
                f"{tuple(utterance.shape)} of {utterance.dtype}."
            )
        if len(x) == 0:
            raise UnweaveError("No segments to embed; expected at least one.")
        z2, z1 = [], []
        for start in range(0, len(x), batch_size):
            latents = self.encode(x[start : start + batch_size])
            z2.append(latents.static.mean)
            z1.append(latents.dynamic.mean[:, 0])
        _, index = torch.unique(utterance, return_inverse=True)
        return torch.cat(z2), torch.cat(z1), index.to(x.device)

    def utterance_embeddings(
        self, x: torch.Tensor, utterance: torch.Tensor, batch_size: int = 2048
    ) -> torch.Tensor:
        """The s-vector of each utterance: ``(U, z2_dim)``, rows in sorted utterance-id order.

        ``mu2* = sum_n mean q(z2|x_n) / (N_u + z2_prior_var / 1)``, the closed-form MAP
        estimate of mu2 for an unseen sequence of ``N_u`` segments (reference
        ``map_mu2_z2_sum``). ``x`` ``(N, T, F)``; ``utterance`` ``(N,)`` integer ids.
        """
        z2, _, index = self._segment_means(x, utterance, batch_size)
        sums = z2.new_zeros(int(index.max()) + 1, z2.shape[1]).index_add_(0, index, z2)
        counts = torch.bincount(index).to(z2.dtype)
        return sums / (counts[:, None] + self.config.z2_prior_var / MU2_PRIOR_VAR)

    def mean_z1_per_utterance(
        self, x: torch.Tensor, utterance: torch.Tensor, batch_size: int = 2048
    ) -> torch.Tensor:
        """The dynamic embedding ``mu1`` of each utterance, the mean of its segments' z1 means:
        ``(U, z1_dim)``, rows in sorted utterance-id order."""
        _, z1, index = self._segment_means(x, utterance, batch_size)
        sums = z1.new_zeros(int(index.max()) + 1, z1.shape[1]).index_add_(0, index, z1)
        return sums / torch.bincount(index).to(z1.dtype)[:, None]

    # ------------------------------------------------------------------ diagnostics

    @torch.no_grad()
    def table_diagnostics(self, x: torch.Tensor, sequence: torch.Tensor) -> dict[str, float]:
        """Figures that tell a table problem from an encoder problem, on segments ``x``
        ``(N, T, F)`` of training sequences ``sequence`` ``(N,)`` that have table rows:

        - ``table_std``: the std of the table's rows per coordinate (mean over coordinates);
        - ``ce_table``: the discriminative cross-entropy -log p(i|z2) of these segments
          (posterior means) against the table, beside ``ln_rows``, a uniform guess's;
        - ``ce_mu2_star``: the same with these sequences' rows set to mu2* of the current
          encoder: low here but high against the table means the rows lag the encoder;
        - ``z2_spread``: the std of the sequences' mean z2 over the pooled std of z2 within a
          sequence (mean over coordinates): below 1, z2 does not single out sequences.
        """
        rows, _ = self._rows(sequence, len(x))
        z2, _, index = self._segment_means(x, sequence, 2048)
        n_seq = int(index.max()) + 1
        sums = z2.new_zeros(n_seq, z2.shape[1]).index_add_(0, index, z2)
        counts = torch.bincount(index, minlength=n_seq).to(z2.dtype)[:, None]
        star = self.mu2_table.clone()
        star[rows.new_zeros(n_seq).index_copy_(0, index, rows)] = sums / (
            counts + self.config.z2_prior_var / MU2_PRIOR_VAR
        )

        def cross_entropy(table: torch.Tensor) -> float:
            logits = -(z2[:, None] - table[None]).pow(2).sum(-1) / (2 * self.config.z2_prior_var)
            return float(F.cross_entropy(logits, rows))

        means = sums / counts
        within = (z2 - means[index]).pow(2).mean(0).sqrt().mean()
        return {
            "table_std": float(self.mu2_table.std(0).mean()),
            "ce_table": cross_entropy(self.mu2_table),
            "ce_mu2_star": cross_entropy(star),
            "ln_rows": math.log(len(self.mu2_table)),
            "z2_spread": float(means.std(0).mean() / within.clamp_min(1e-12)),
        }

    def training_diagnostics(
        self, data: SeriesData, seed: int, n_sequences: int = 64
    ) -> dict[str, float]:
        """:meth:`table_diagnostics` on the segments of ``n_sequences`` training sequences
        that have table rows (drawn from ``seed``; those of the current block in block mode)."""
        in_table = np.flatnonzero(self.table_rows.cpu().numpy() >= 0)
        rng = np.random.default_rng(seed)
        chosen = rng.choice(in_table, size=min(n_sequences, len(in_table)), replace=False)
        rows = np.flatnonzero(np.isin(data.groups["utterance"], chosen))
        device = self.mu2_table.device
        x = torch.from_numpy(np.asarray(data.x[rows], dtype=np.float32)).to(device)
        sequence = torch.from_numpy(data.groups["utterance"][rows].astype(np.int64)).to(device)
        was_training = self.training
        self.eval()
        try:
            return self.table_diagnostics(x, sequence)
        finally:
            self.train(was_training)

    def export_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)

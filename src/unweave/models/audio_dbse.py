"""DBSE for speech: 200 ms chunks of STFT magnitude frames, static speaker, dynamic content.

Reference code azencot-group/DBSE ``audio/model/dbse.py`` and ``train_and_eval_timit.py``
(facts in reference/dbse.md §3-4):

* input: one chunk = 3200 samples (200 ms) -> 20 frames x 201 raw linear-magnitude STFT
  bins (n_fft 400, window 320, hop 165 at 16 kHz, no normalisation); every utterance is cut
  into such chunks, the last zero-padded (``load_*(chunk_samples=3200, normalise=False)``
  in :mod:`unweave.data.speech`);
* frame features: a bidirectional LSTM (201 -> 201 per direction) and a Linear 402 -> 201
  per frame: the reference overwrites ``g_dim`` with ``fft_size // 2 + 1`` (``dbse.py:81``);
* the video model's subtraction bias on those features (static code from frame 0 only;
  the dynamic path, a 2-layer biLSTM 201 -> 128, reads ``h_t - h_0`` with fresh noise in
  slot 0), f = z = 128, prior and static MLP width 256; the static mean and log-variance
  heads are Linear + LeakyReLU(0.2) (``LinearUnit(..., False)``, ``dbse.py:101-102``);
* decoder: an LSTM (256 -> 201) over ``[z_t, f]``, then a Linear per frame;
* loss (sums / number of chunks): 20 SSE(chunk) + 100 SSE(the chunk decoded from ``[0, f]``,
  i.e. the static code alone) + KL(f) + KL(z); Adam lr 1e-3, 500 epochs;
* a batch is every chunk of 32 utterances (:meth:`AudioDBSE.training_items`), so an epoch
  is one pass over the utterances;
* initialisation: Linear weights N(0, 0.01), biases 0, LSTMs PyTorch's default
  (``dbse_model.apply(utils.init_weights)`` after construction,
  ``train_and_eval_timit.py:646``).

With these sizes the model holds 3,045,169 parameters, as the modules the reference's
forward uses (its unused ``mlp_encoder`` and ``z_rnn`` are left out).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unweave.models.base import SequentialVAEConfig
from unweave.models.dbse import DBSE
from unweave.models.spectrogram import SpectrogramModel, SpectrogramSizes


@dataclass
class AudioDBSEConfig(SequentialVAEConfig, SpectrogramSizes):
    """Sizes and loss weights; defaults are the reference TIMIT experiment."""

    g_dim: int = 201  # fft_size // 2 + 1 in the reference, whatever its --g_dim says
    f_dim: int = 128
    z_dim: int = 128
    rnn_size: int = 256
    w_seq: float = 20.0  # SSE of the chunk
    w_static: float = 100.0  # SSE of the chunk decoded from [0, f]
    w_kl_static: float = 1.0
    w_kl_dynamic: float = 1.0
    static_head_activation: str = "leaky_relu"  # LinearUnit(rnn_size, f_dim, False)


class AudioDBSE(SpectrogramModel, DBSE):
    """DBSE on spectrogram chunks ``(B, T, F)`` -> static ``(B, f_dim)``, dynamic ``(B, T, z_dim)``."""

    config_class = AudioDBSEConfig

    def loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c: AudioDBSEConfig = self.config  # type: ignore[assignment]
        terms, f, z = self.elbo_terms(x)
        static_only = self.decode(f, torch.zeros_like(z))
        terms["sse_static"] = (static_only - x).pow(2).sum() / x.shape[0]
        total = (
            c.w_seq * terms["sse_seq"]
            + c.w_static * terms["sse_static"]
            + c.w_kl_static * terms["kl_static"]
            + c.w_kl_dynamic * terms["kl_dynamic"]
        )
        return {"loss": total, **{k: v.detach() for k, v in terms.items()}}

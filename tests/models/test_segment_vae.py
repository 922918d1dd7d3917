"""The segment beta-VAE: FHVAE's parts without the sequence latent, its loss by hand, config
errors, and a toy phone task its code must learn."""

from __future__ import annotations

import math

import pytest
import torch
from helpers import toy_speech

from unweave.errors import UnweaveError
from unweave.metrics.probes import probe_accuracy
from unweave.models import build_model
from unweave.models.fhvae import FHVAE, FHVAEConfig
from unweave.models.segment_vae import SegmentVAE, SegmentVAEConfig


def test_its_networks_are_the_fhvaes_without_the_sequence_latent() -> None:
    """Paper sizes: the encoder is FHVAE's q(z2|x) (LSTM 80 -> 256, heads 256 -> 32), the
    decoder FHVAE's p(x|z1, z2) fed one code of 32 instead of 64: 346,112 (LSTM) + 16,448
    (heads) + 296,960 (LSTM) + 41,120 (heads) = 700,640 parameters."""
    vae = SegmentVAE(SegmentVAEConfig())
    fhvae = FHVAE(FHVAEConfig(n_mu2=0))
    shapes = {name: tuple(p.shape) for name, p in vae.named_parameters()}
    assert shapes["encoder_rnn.weight_ih_l0"] == (1024, 80)
    assert shapes["z_head.mean.weight"] == (32, 256)
    assert shapes["decoder_rnn.weight_ih_l0"] == (1024, 32)
    assert shapes["decoder_head.logvar.weight"] == (80, 256)
    for ours, theirs in (("encoder_rnn", "z2_rnn"), ("z_head", "z2_head")):
        assert sum(p.numel() for p in getattr(vae, ours).parameters()) == sum(
            p.numel() for p in getattr(fhvae, theirs).parameters()
        )
    size = sum(p.numel() for p in vae.parameters())
    assert size == 700_640
    without = ("z1_rnn", "z1_head", "mu2_table")
    fhvae_rest = sum(
        p.numel() for n, p in fhvae.named_parameters() if not n.startswith(without)
    )  # FHVAE's decoder reads z1 + z2 = 64 inputs, ours z = 32: 32 x 1024 fewer weights
    assert size == fhvae_rest - 32 * 1024
    # LSTMs start as TensorFlow cells: forget-gate bias 1, as the FHVAE.
    bias = vae.decoder_rnn.bias_ih_l0
    assert bias[256:512].eq(1).all() and bias[:256].eq(0).all()


def test_the_loss_is_the_nll_plus_beta_times_the_kl() -> None:
    config = {"n_features": 3, "segment": 4, "rnn_size": 8, "z_dim": 2}
    x = torch.randn(5, 4, 3, generator=torch.Generator().manual_seed(0))
    terms = {}
    for beta in (0.0, 1.0, 4.0):
        torch.manual_seed(0)
        model = SegmentVAE(SegmentVAEConfig.from_dict({**config, "beta": beta}))
        torch.manual_seed(1)
        terms[beta] = model.loss(x)
    nll, kl = terms[1.0]["nll"], terms[1.0]["kl"]
    assert terms[0.0]["loss"].item() == pytest.approx(nll.item(), rel=1e-6)
    assert terms[4.0]["loss"].item() == pytest.approx((nll + 4 * kl).item(), rel=1e-6)
    # The KL of q(z|x) = N(m, s^2) to N(0, I) by hand, summed over z and averaged over x.
    q = model.encode_z(x)
    by_hand = 0.5 * (q.mean**2 + q.logvar.exp() - 1 - q.logvar).sum() / len(x)
    assert kl.item() == pytest.approx(by_hand.item(), rel=1e-5)
    # The Gaussian NLL of one cell, from the decoder's mean and log-variance.
    torch.manual_seed(1)
    px = model.decoder(q.sample())
    cells = 0.5 * (math.log(2 * math.pi) + px.logvar + (x - px.mean) ** 2 / px.logvar.exp())
    assert nll.item() == pytest.approx((cells.sum() / len(x)).item(), rel=1e-5)


def test_it_encodes_one_code_per_segment_and_no_static_code() -> None:
    model = build_model("beta-vae", {"n_features": 6, "segment": 10, "z_dim": 4}, "audio")
    latents = model.encode(torch.randn(3, 10, 6))
    assert latents.static is None and latents.dynamic.mean.shape == (3, 1, 4)
    assert model.decode(None, latents.dynamic.mean).shape == (3, 10, 6)
    with pytest.raises(UnweaveError, match="no static code"):
        model.sample_static(2)
    with pytest.raises(UnweaveError, match=r"segments of shape \(B, 10, 6\).*got \(3, 9, 6\)"):
        model.encode(torch.randn(3, 9, 6))


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"beta": -1}, r"model.beta is -1; expected a number >= 0\."),
        ({"beta": "big"}, r"model.beta is 'big'; expected a number"),
        ({"z_dim": 0}, r"model.z_dim is 0; expected an integer >= 1\."),
        ({"bta": 2}, "bta"),
    ],
)
def test_config_errors_are_one_clear_sentence(settings: dict, message: str) -> None:
    with pytest.raises(UnweaveError, match=message):
        SegmentVAEConfig.from_dict(settings)


def test_a_tiny_segment_vae_codes_the_phone(one_thread: None) -> None:
    """Toy segments: a speaker offset + one of 4 phone patterns + noise. After 300 steps its
    code tells the phone of unseen speakers' segments: linear probe accuracy > 0.95 (seeds
    0-4 gave 0.97-1.00; the untrained encoder 0.70-0.95, 0.83 at this seed). A few seconds
    on one thread."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    phones = 1.5 * torch.randn(4, 10, 6, generator=g)
    x, _, _, phone = toy_speech(32, 1, 16, phones, g, with_phones=True)
    x_test, _, _, phone_test = toy_speech(8, 3, 8, phones, g, with_phones=True)
    config = {"n_features": 6, "segment": 10, "rnn_size": 32, "z_dim": 4, "beta": 1.0}
    model = SegmentVAE(SegmentVAEConfig.from_dict(config))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3, betas=(0.95, 0.999))
    for _ in range(300):
        batch = torch.randint(0, len(x), (64,))
        optimiser.zero_grad()
        model.loss(x[batch])["loss"].backward()
        optimiser.step()
    with torch.no_grad():
        codes, codes_test = model.encode_z(x).mean, model.encode_z(x_test).mean
    accuracy = probe_accuracy(codes.numpy(), phone.numpy(), codes_test.numpy(), phone_test.numpy())
    assert accuracy > 0.95

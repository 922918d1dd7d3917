"""DBSE for speech: reference sizes, the static-only reconstruction term, and a toy it learns."""

import pytest
import torch

from unweave.errors import UnweaveError
from unweave.models import build_model

STEPS = 300
TINY = dict(n_features=12, encoder_hidden=8, g_dim=8, f_dim=4, z_dim=4, rnn_size=8)


def tiny(**changes):
    torch.manual_seed(0)
    return build_model("dbse", {**TINY, **changes}, "audio")


def test_reference_sizes():
    model = build_model("dbse", {}, "audio")
    lstm = model.frame_encoder.lstm
    assert (lstm.input_size, lstm.hidden_size, lstm.bidirectional) == (201, 128, True)
    assert model.frame_decoder.lstm.input_size == 256  # [z, f] = 128 + 128
    assert model.frame_decoder.lstm.hidden_size == 201
    assert model.static_features[0].out_features == 256  # rnn_size
    x = torch.randn(2, 20, 201)
    latents = model.encode(x)
    assert latents.static.mean.shape == (2, 128) and latents.dynamic.mean.shape == (2, 20, 128)
    assert model.swap(x, x.flip(0)).shape == x.shape


def test_loss_is_the_weighted_sum_with_the_static_only_decode():
    model = tiny(w_seq=2.0, w_static=3.0, w_kl_static=0.5, w_kl_dynamic=0.25)
    x = torch.randn(3, 20, 12)
    torch.manual_seed(1)
    terms = model.loss(x)
    assert set(terms) == {"loss", "sse_seq", "sse_static", "kl_static", "kl_dynamic", "mse"}
    expected = (
        2.0 * terms["sse_seq"] + 3.0 * terms["sse_static"]
        + 0.5 * terms["kl_static"] + 0.25 * terms["kl_dynamic"]
    )  # fmt: skip
    assert terms["loss"].item() == pytest.approx(expected.item(), rel=1e-5)
    # sse_static compares the chunk decoded from [0, f] with the whole chunk.
    torch.manual_seed(1)
    latents = model.encode(x)
    f = latents.static.sample()
    z = latents.dynamic.sample()
    static_only = model.decode(f, torch.zeros_like(z))
    assert terms["sse_static"].item() == pytest.approx(
        ((static_only - x) ** 2).sum().item() / 3, rel=1e-5
    )


def test_static_code_comes_from_the_first_frame_feature():
    model = tiny().eval()
    x = torch.randn(2, 20, 12)
    h = model.frame_features(x)
    direct = model.static_head(model.static_features(h[:, 0])).mean
    assert torch.allclose(model.encode(x).static.mean, direct)


def test_unknown_setting_is_named():
    with pytest.raises(UnweaveError, match="image_size"):
        build_model("dbse", {"image_size": 64}, "audio")


def test_tiny_model_puts_the_speaker_in_the_static_code(one_thread):
    """Chunks = a small per-speaker spectral offset + a moving per-chunk pattern. After 300
    steps each chunk's static code is nearest its own speaker's centroid (> 95%; the
    untrained model scores about 50%)."""
    generator = torch.Generator().manual_seed(0)
    n_speakers, per = 4, 64
    offsets = 0.5 * torch.randn(n_speakers, 12, generator=generator)
    speaker = torch.arange(n_speakers).repeat_interleave(per)
    phase = torch.rand(len(speaker), 1, 1, generator=generator) * 6.28
    t = torch.arange(20.0)[None, :, None]
    bins = torch.arange(12.0)[None, None, :]
    x = offsets[speaker][:, None, :] + torch.sin(0.5 * t + phase + bins)
    model = tiny(f_dim=4, z_dim=4)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(STEPS):
        rows = torch.randint(0, len(x), (32,), generator=generator)
        loss = model.loss(x[rows])["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    model.eval()
    with torch.no_grad():
        f = model.encode(x).static.mean
    centroids = torch.stack([f[speaker == s].mean(0) for s in range(n_speakers)])
    nearest = torch.cdist(f, centroids).argmin(1)
    assert (nearest == speaker).float().mean() > 0.95

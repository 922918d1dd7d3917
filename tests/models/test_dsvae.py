import pytest
import torch

from unweave.errors import UnweaveError
from unweave.models import build_model

TINY = dict(image_size=16, base_channels=8, g_dim=32, f_dim=16, z_dim=8, rnn_size=16, hidden_dim=16)


def test_static_code_reads_every_frame():
    torch.manual_seed(0)
    model = build_model("dsvae", TINY).eval()
    x = torch.rand(2, 8, 3, 16, 16)
    changed = x.clone()
    changed[:, -1] = torch.rand_like(changed[:, -1])
    assert not torch.allclose(model.encode(x).static.mean, model.encode(changed).static.mean)


def test_factorised_posterior_is_per_frame():
    torch.manual_seed(0)
    model = build_model("dsvae", {**TINY, "posterior": "factorised"}).eval()
    x = torch.rand(2, 8, 3, 16, 16)
    changed = x.clone()
    changed[:, 5] = torch.rand_like(changed[:, 5])
    za, zb = model.encode(x).dynamic.mean, model.encode(changed).dynamic.mean
    assert torch.allclose(za[:, :5], zb[:, :5]) and torch.allclose(za[:, 6:], zb[:, 6:])
    assert not torch.allclose(za[:, 5], zb[:, 5])


def test_loss_is_the_plain_elbo():
    torch.manual_seed(0)
    model = build_model("dsvae", TINY)
    terms = model.loss(torch.rand(3, 8, 3, 16, 16))
    expected = terms["sse_seq"] + terms["kl_static"] + terms["kl_dynamic"]
    assert float(terms["loss"]) == pytest.approx(float(expected), rel=1e-5)


def test_unknown_posterior_is_one_clear_error():
    with pytest.raises(UnweaveError, match="model.posterior"):
        build_model("dsvae", {**TINY, "posterior": "fancy"})


def test_unknown_model_key_suggests_the_right_one():
    with pytest.raises(UnweaveError, match=r"model\.fdim.*Did you mean 'model\.f_dim'"):
        build_model("dsvae", {**TINY, "fdim": 3})

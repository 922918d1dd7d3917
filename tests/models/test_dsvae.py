import pytest
import torch

from unweave.errors import UnweaveError
from unweave.models import build_model
from unweave.models.dsvae import DSVAEConfig
from unweave.training.config import load_preset

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


def test_static_heads_are_linear_then_leaky_relu():
    """yatindandi model.py:149-150 and C-DSVAE model.py:136-137: LinearUnit(.., False), i.e.
    Linear + LeakyReLU(0.2), on f's mean and log-variance."""
    torch.manual_seed(0)
    head = build_model("dsvae", TINY).static_head
    assert isinstance(head.activation, torch.nn.LeakyReLU)
    assert head.activation.negative_slope == pytest.approx(0.2)
    features = 10 * torch.randn(64, head.mean.in_features)
    out = head(features)
    for linear, value in ((head.mean, out.mean), (head.logvar, out.logvar)):
        before = linear(features)
        assert (before < 0).any()
        assert torch.allclose(value, torch.where(before < 0, 0.2 * before, before))


def test_full_posterior_reads_the_mean_of_f_at_evaluation():
    """yatindandi encode_f/encode_z reparameterise only when training: evaluation codes are
    deterministic, training codes are conditioned on a sample of f."""
    torch.manual_seed(0)
    model = build_model("dsvae", TINY)
    x = torch.rand(2, 8, 3, 16, 16)
    with torch.no_grad():
        model.eval()
        first, second = model.encode(x), model.encode(x)
        assert torch.equal(first.dynamic.mean, second.dynamic.mean)
        assert torch.equal(first.dynamic.logvar, second.dynamic.logvar)
        model.train()
        assert not torch.allclose(model.encode(x).dynamic.mean, model.encode(x).dynamic.mean)


def test_the_decoder_reads_the_f_that_conditioned_the_dynamic_posterior():
    """yatindandi ``model.py:277-281``: one sample of f conditions z and is decoded."""
    torch.manual_seed(0)
    model = build_model("dsvae", TINY).train()
    seen = {}
    encode = model.encode

    def spy(x: torch.Tensor):
        seen["latents"] = encode(x)
        return seen["latents"]

    model.encode = spy
    _, f, _ = model.elbo_terms(torch.rand(2, 8, 3, 16, 16))
    assert torch.equal(f, seen["latents"].extras["static_sample"])


@pytest.mark.parametrize("data", ["sprites", "toy-sprites", "frames"])
@pytest.mark.parametrize("preset", ["paper", "cpu"])
def test_presets_use_the_reference_prior_and_static_heads(data: str, preset: str):
    """C-DSVAE's prior is two LSTM cells of 256 (model.py:129-130)."""
    settings = load_preset("dsvae", data, preset)["model"]
    assert settings["rnn_size"] == 256 and settings["static_head_activation"] == "leaky_relu"
    config = DSVAEConfig()
    assert config.rnn_size == 256 and config.static_head_activation == "leaky_relu"

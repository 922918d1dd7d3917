import pytest
import torch

from unweave.models import build_model

TINY = dict(image_size=16, base_channels=8, g_dim=32, f_dim=16, z_dim=8, rnn_size=16)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("dbse", TINY).eval()


def test_paper_size_has_the_reference_parameter_count():
    # reference/dbse.md §2 counts about 14.9M parameters for the Sprites model.
    n = sum(p.numel() for p in build_model("dbse", {}).parameters())
    assert 14.8e6 < n < 15.0e6


def test_latent_shapes(model):
    x = torch.rand(3, 8, 3, 16, 16)
    latents = model.encode(x)
    assert latents.static.mean.shape == (3, 16)
    assert latents.dynamic.mean.shape == (3, 8, 8)
    assert model.decode(latents.static.mean, latents.dynamic.mean).shape == x.shape
    assert model.sample_static(4).shape == (4, 16)
    assert model.sample_dynamic(4, 6).shape == (4, 6, 8)


def test_static_code_reads_frame_zero_only(model):
    """The subtraction bias: the static posterior sees frame 0 and nothing else."""
    x = torch.rand(2, 8, 3, 16, 16)
    changed = x.clone()
    changed[:, 1:] = torch.rand_like(changed[:, 1:])
    a, b = model.encode(x).static, model.encode(changed).static
    assert torch.equal(a.mean, b.mean) and torch.equal(a.logvar, b.logvar)
    changed_first = x.clone()
    changed_first[:, 0] = torch.rand_like(changed_first[:, 0])
    assert not torch.allclose(model.encode(changed_first).static.mean, a.mean)


def test_dynamic_code_sees_frames_minus_frame_zero(model):
    """A clip whose frames all equal frame 0 has zero residuals: the dynamics lose frame 0's look."""
    frame = torch.rand(1, 1, 3, 16, 16)
    other = torch.rand(1, 1, 3, 16, 16)
    still_a, still_b = frame.expand(1, 8, 3, 16, 16), other.expand(1, 8, 3, 16, 16)
    torch.manual_seed(1)
    za = model.encode(still_a).dynamic.mean
    torch.manual_seed(1)
    zb = model.encode(still_b).dynamic.mean
    assert torch.allclose(za, zb, atol=1e-6)


def test_loss_terms_and_weights(model):
    model.train()
    x = torch.rand(4, 8, 3, 16, 16)
    torch.manual_seed(0)
    terms = model.loss(x)
    assert set(terms) == {"loss", "sse_seq", "sse_frame0", "kl_static", "kl_dynamic", "mse"}
    expected = 5 * terms["sse_seq"] + terms["sse_frame0"] + terms["kl_static"] + terms["kl_dynamic"]
    assert float(terms["loss"]) == pytest.approx(float(expected), rel=1e-5)
    terms["loss"].backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_swap_takes_static_from_first_and_dynamics_from_second(model):
    a, b = torch.rand(2, 8, 3, 16, 16), torch.rand(2, 8, 3, 16, 16)
    torch.manual_seed(3)
    swapped = model.swap(a, b)
    torch.manual_seed(3)
    f = model.encode(a).static.mean
    z = model.encode(b).dynamic.mean
    assert torch.allclose(swapped, model.decode(f, z), atol=1e-6)

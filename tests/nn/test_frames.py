import pytest
import torch
from helpers import weighted_grads

from unweave.errors import UnweaveError
from unweave.nn.frames import (
    FrameDecoder,
    FrameEncoder,
    VectorConvTranspose2d,
    init_reference_weights,
)


@pytest.mark.parametrize("size", [16, 32, 64])
def test_encoder_decoder_shapes(size):
    enc = FrameEncoder(g_dim=24, image_size=size, channels=3, base_channels=8)
    dec = FrameDecoder(in_dim=24, image_size=size, channels=3, base_channels=8)
    h = enc(torch.rand(5, 3, size, size))
    assert h.shape == (5, 24) and h.abs().max() <= 1
    out = dec(h)
    assert out.shape == (5, 3, size, size)
    assert float(out.min()) >= 0 and float(out.max()) <= 1


def test_reference_layout_at_64():
    enc = FrameEncoder(g_dim=256, image_size=64)
    convs = [m for m in enc.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512, 256]


@pytest.mark.parametrize("size", [4, 48, 100])
def test_bad_image_size_names_the_setting(size):
    with pytest.raises(UnweaveError, match="model.image_size"):
        FrameEncoder(g_dim=8, image_size=size)


def test_reference_init():
    torch.manual_seed(0)
    enc = FrameEncoder(g_dim=256, image_size=64)
    init_reference_weights(enc)
    conv = next(m for m in enc.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels == 128)
    assert float(conv.weight.std()) == pytest.approx(0.01, rel=0.05)
    assert float(conv.bias.abs().max()) == 0.0


@pytest.mark.parametrize("bias", [True, False])
def test_vector_conv_transpose_equals_conv_transpose(bias):
    torch.manual_seed(0)
    fast = VectorConvTranspose2d(12, 5, 4, 1, 0, bias=bias)
    plain = torch.nn.ConvTranspose2d(12, 5, 4, 1, 0, bias=bias)
    plain.load_state_dict(fast.state_dict())
    codes = torch.randn(7, 12, 1, 1)
    out_fast, out_plain = fast(codes), plain(codes)
    assert out_fast.shape == (7, 5, 4, 4)
    assert out_fast.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(out_fast, out_plain, rtol=1e-5, atol=1e-6)
    for a, b in zip(weighted_grads(fast, out_fast), weighted_grads(plain, out_plain), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # Inputs larger than 1x1 take nn.ConvTranspose2d's own path.
    wide = torch.randn(2, 12, 3, 3)
    torch.testing.assert_close(fast(wide), plain(wide))


def test_channels_last_encoder_equals_contiguous():
    torch.manual_seed(0)
    encoder = FrameEncoder(g_dim=8, image_size=16, channels=3, base_channels=4)
    frames = torch.rand(6, 3, 16, 16)
    fast = encoder(frames)
    encoder.channels_last = False
    torch.testing.assert_close(fast, encoder(frames), rtol=1e-5, atol=1e-6)

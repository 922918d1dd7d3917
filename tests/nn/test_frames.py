import pytest
import torch

from unweave.errors import UnweaveError
from unweave.nn.frames import FrameDecoder, FrameEncoder, init_reference_weights


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

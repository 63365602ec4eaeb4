"""Video VAE: shapes per level and size, one latent per frame, causal zero-initialised temporal mixing."""

from __future__ import annotations

import pytest
import torch

from talkhead.models.video_vae import VideoVAE, VideoVAESpec, kl_divergence


def _model(spec: VideoVAESpec, seed: int = 0) -> VideoVAE:
    torch.manual_seed(seed)
    return VideoVAE(spec).eval()


@pytest.mark.parametrize("size,levels,channels,latent", [(16, 1, 4, 1), (32, 2, 8, 4), (64, 3, 4, 3), (64, 4, 4, 8)])
@pytest.mark.parametrize("frames", [1, 5])
def test_shapes_and_one_latent_per_frame(size, levels, channels, latent, frames):
    spec = VideoVAESpec(size, levels, channels, latent)
    model = _model(spec)
    x = torch.rand(2, frames, 3, size, size) * 2 - 1  # (B, T, 3, H, W)
    with torch.no_grad():
        mean, logvar = model.encode(x)
        recon, _, _ = model(x, sample=False)
    h = size // 2 ** levels
    assert spec.latent_size == h
    assert mean.shape == logvar.shape == (2, frames, latent, h, h)
    assert model.decode(mean).shape == recon.shape == x.shape


def test_channels_double_and_are_capped():
    assert VideoVAESpec(256, 5, 4, 4).level_channels() == [4, 8, 16, 32, 32]


def test_spec_round_trips_and_checks_the_size():
    spec = VideoVAESpec(32, 2, 8, 4)
    assert VideoVAESpec.from_dict(spec.to_dict() | {"steps": 3}) == spec  # extra section keys are ignored
    with pytest.raises(ValueError, match="multiple"):
        VideoVAESpec(40, 4, 8, 4)


def test_temporal_mixing_starts_as_identity():
    model = _model(VideoVAESpec(32, 2, 8, 4))
    x = torch.rand(1, 6, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        together = model.encode(x)[0]  # (1, 6, C, h, w)
        alone = torch.cat([model.encode(x[:, t:t + 1])[0] for t in range(6)], dim=1)
    assert torch.allclose(together[:, 0], model.encode(x[:, :1])[0][:, 0], atol=1e-6)
    assert torch.allclose(together, alone, atol=1e-5)


def test_temporal_mixing_is_causal_once_trained():
    model = _model(VideoVAESpec(32, 2, 8, 4))
    with torch.no_grad():
        for mix in (model.encoder.temporal, model.decoder.temporal):
            mix.proj.weight.normal_(0, 0.5)  # as if trained: frames now see each other
    assert model.temporal_context == 2
    x = torch.rand(1, 6, 3, 32, 32) * 2 - 1
    y = x.clone()
    y[:, 4] = -x[:, 4]
    with torch.no_grad():
        mx, my = model.encode(x)[0], model.encode(y)[0]
        first_alone = model.encode(x[:, :1])[0]
    assert torch.allclose(mx[:, :4], my[:, :4], atol=1e-6)  # the past does not see the future
    assert not torch.allclose(mx[:, 4:], my[:, 4:], atol=1e-3)  # frames 4 and 5 do see frame 4
    assert torch.allclose(mx[:, 0], first_alone[:, 0], atol=1e-5)  # frame 0 is always encoded alone
    assert (mx[:, 5] - my[:, 5]).abs().max() > 1e-4  # frame 5 sees frame 4 through the mixing


def test_kl_of_the_prior_is_zero():
    assert kl_divergence(torch.zeros(2, 3), torch.zeros(2, 3)).item() == 0.0
    assert kl_divergence(torch.ones(2, 3), torch.zeros(2, 3)).item() == pytest.approx(0.5)

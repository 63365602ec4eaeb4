"""DualForce's KV cache: frame-by-frame cached inference equals full block-causal attention (float32, 1e-4)."""

from __future__ import annotations

import pytest
import torch

from talkhead.models.video_df import DUALFORCE_SIZES, DFCond, DualForce
from talkhead.models.video_df_attention import KVCache, block_causal_mask
from talkhead.models.video_df_forcing import SampleSettings, generate, pyramid_schedule

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

C, S, T = 4, 8, 6


def _active(model: DualForce, seed: int = 0) -> DualForce:
    """Every parameter random (AdaLN-Zero gates, bridge gates, output layers included): a non-trivial function."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.15)
    return model.eval()


def _inputs(b: int = 2, frames: int = T, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    cond = DFCond(torch.randn(b, C, S, S, generator=g), torch.randn(b, 70, generator=g),
                  torch.randn(b, 4 * frames, 80, generator=g) * 2.0)  # non-zero audio conditioning
    xv, xs = torch.randn(b, frames, C, S, S, generator=g), torch.randn(b, frames, 70, generator=g)
    tv, ts = torch.rand(b, frames, generator=g), torch.rand(b, frames, generator=g)  # the schedule: per-frame times
    tv[:, 0] = ts[:, 0] = 1.0  # a clean first frame (mask channel on)
    return cond, xv, xs, tv, ts


def test_block_causal_mask():
    frames = torch.tensor([0, 0, 1, 1, 2])
    mask = block_causal_mask(frames, frames)
    assert mask.tolist() == [[True, True, False, False, False], [True, True, False, False, False],
                             [True, True, True, True, False], [True, True, True, True, False], [True] * 5]


@pytest.mark.parametrize("bridge_layers", [0, 1, 2])
def test_cached_frame_by_frame_equals_full_attention(bridge_layers):
    torch.manual_seed(0)
    model = _active(DualForce(DUALFORCE_SIZES["tiny"], C, S, 80, 4, 0, bridge_layers))
    cond, xv, xs, tv, ts = _inputs()
    with torch.no_grad():
        full_v, full_s = model(xv, xs, tv, ts, cond)  # (B, T, C, h, w), (B, T, 70)
        cache = KVCache()
        cache.commit = True
        steps = [model(xv[:, i:i + 1], xs[:, i:i + 1], tv[:, i:i + 1], ts[:, i:i + 1], cond, cache, start=i)
                 for i in range(T)]
    cached_v, cached_s = torch.cat([s[0] for s in steps], 1), torch.cat([s[1] for s in steps], 1)
    assert full_v.abs().mean() > 0.1 and full_s.abs().mean() > 0.1  # the comparison is not of zeros
    torch.testing.assert_close(cached_v, full_v, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(cached_s, full_s, rtol=1e-4, atol=1e-4)
    assert cache.frames() == list(range(T))


def test_audio_conditioning_matters_and_future_frames_do_not():
    model = _active(DualForce(DUALFORCE_SIZES["tiny"], C, S, 80, 4, 0, 1))
    cond, xv, xs, tv, ts = _inputs()
    with torch.no_grad():
        base_v, base_s = model(xv, xs, tv, ts, cond)
        silent = DFCond(cond.ref_latent, cond.ref_struct, torch.zeros_like(cond.audio))
        assert (model(xv, xs, tv, ts, silent)[0] - base_v).abs().max() > 1e-3
        xv2 = xv.clone()
        xv2[:, -1] += 1.0  # change the last frame only
        v2, s2 = model(xv2, xs, tv, ts, cond)
    torch.testing.assert_close(v2[:, :-1], base_v[:, :-1])  # block-causal: earlier frames do not see it
    torch.testing.assert_close(s2[:, :-1], base_s[:, :-1])
    assert (v2[:, -1] - base_v[:, -1]).abs().max() > 1e-3


def test_sliding_window_generation_cached_equals_uncached():
    model = _active(DualForce(DUALFORCE_SIZES["tiny"], C, S, 80, 4, 0, 2), seed=3)
    cond, *_ = _inputs(b=1, frames=20)
    settings = SampleSettings(window=6, stride=2, steps=3, lag=1, shift=1.0, cfg_scale=2.0)
    lat_c, mot_c = generate(model, cond, 20, settings, torch.Generator().manual_seed(4), use_cache=True)
    lat_f, mot_f = generate(model, cond, 20, settings, torch.Generator().manual_seed(4), use_cache=False)
    assert lat_c.shape == (1, 20, C, S, S) and mot_c.shape == (1, 20, 70)  # longer than the 6-frame window
    torch.testing.assert_close(lat_c, lat_f, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(mot_c, mot_f, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(lat_c[:, 0], cond.ref_latent)  # frame 0 is the reference


def test_cache_rejects_another_batch():
    cache = KVCache()
    cache.commit = True
    k = torch.randn(1, 2, 6, 4)
    cache.extend("s", k, k, torch.tensor([0, 0, 1, 1, 2, 2]))
    with pytest.raises(ValueError, match="batch"):
        cache.extend("s", torch.randn(2, 2, 2, 4), torch.randn(2, 2, 2, 4), torch.tensor([3, 3]))


def test_pyramid_schedule():
    grid = pyramid_schedule(steps=2, frames=3, lag=1, shift=1.0)
    assert grid.shape == (5, 3)
    assert grid[0].tolist() == [0, 0, 0] and grid[-1].tolist() == [1, 1, 1]
    assert (grid.diff(dim=0) >= 0).all() and (grid.diff(dim=1) <= 0).all()  # later frames stay noisier


def test_autoencoder_kl_latents_decode_through_its_own_decoder(tmp_path):
    """With the autoencoder_kl latents backend, generated latents decode with that VAE (frames one by one)."""
    import numpy as np

    diffusers = pytest.importorskip("diffusers")
    from talkhead.features.video_latents import load_autoencoder_kl
    from talkhead.infer.dualforce import KLDecoder, decode_latents, load_vae

    torch.manual_seed(0)
    diffusers.AutoencoderKL(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                            up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, latent_channels=4,
                            norm_num_groups=4, sample_size=32).save_pretrained(tmp_path / "vae")
    frames = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    latents = load_autoencoder_kl(tmp_path, 32).encode(frames)  # (3, 4, 16, 16), scaled
    decoder = load_vae(tmp_path)
    assert isinstance(decoder, KLDecoder)
    out = decode_latents(decoder, latents)
    with torch.no_grad():
        expected = decoder.vae.decode(torch.from_numpy(latents) / decoder.scaling_factor).sample
    assert out.shape == (3, 32, 32, 3) and out.dtype == np.uint8
    np.testing.assert_allclose(out.astype(float), ((expected.clamp(-1, 1) + 1) * 127.5).permute(0, 2, 3, 1).numpy(),
                               atol=1.0)
    with pytest.raises(Exception, match="not found"):
        load_vae(tmp_path / "missing")

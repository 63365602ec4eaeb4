"""Which precision an extractor computes in: bfloat16 only where it is the same on every machine."""

from __future__ import annotations

import pytest
import torch

from talkhead.features import precision
from talkhead.features.video_latents import VideoVAEEncoder
from talkhead.models.video_vae import VideoVAE, VideoVAESpec


@pytest.mark.parametrize("device, requested, computed", [
    ("cpu", "float32", torch.float32), ("cpu", "float16", torch.float16), ("cpu", "bfloat16", torch.float32),
    ("cuda", "bfloat16", torch.bfloat16), ("cuda:1", "float16", torch.float16), ("cuda", "float32", torch.float32),
])
def test_bfloat16_is_a_gpu_choice(device, requested, computed):
    assert precision.compute_dtype(requested, device, "test") == computed


def test_an_unknown_dtype_is_named():
    with pytest.raises(ValueError, match="audio_hubert: dtype must be one of .*'fp8'"):
        precision.compute_dtype("fp8", "cpu", "audio_hubert")


def test_the_video_encoder_follows_the_same_rule():
    model = VideoVAE(VideoVAESpec(size=16, levels=1, channels=4, latent_channels=2))
    assert VideoVAEEncoder(model, "x", "cpu", "bfloat16").dtype == torch.float32
    assert VideoVAEEncoder(model, "x", "cpu", "float16").dtype == torch.float16

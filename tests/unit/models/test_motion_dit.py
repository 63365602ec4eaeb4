"""Motion DiT and flow matching: shapes per size, AdaLN-Zero identity, RoPE, learning, the sampler and CFG."""

from __future__ import annotations

import pytest
import torch

from talkhead.config import MotionDitConfig
from talkhead.models import flow_matching as fm
from talkhead.models.layers import apply_rope, parameter_count, rope_angles
from talkhead.models.motion_dit import MOTION_DIT_SIZES, MotionCond, MotionDiT, guided_velocity, sample
from talkhead.train.motion_dit import flow_loss

N, P = 12, 4


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

def _cond(b: int = 2, hubert_layers: int = 0, seed: int = 0) -> MotionCond:
    g = torch.Generator().manual_seed(seed)
    audio = (torch.randn(b, 2 * N, hubert_layers, 8, generator=g) if hubert_layers
             else torch.randn(b, 4 * N, 80, generator=g) - 5)
    return MotionCond(audio, torch.randn(b, 70, generator=g), torch.randn(b, P, 70, generator=g),
                      torch.tensor([3, 8][:b]))


def _active(model: MotionDiT, seed: int = 1) -> MotionDiT:
    """The model with every AdaLN-Zero layer randomised, so its output depends on every input."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "ada" in name or name.startswith("out."):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)
    return model


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_shapes_per_size(size):
    model = MotionDiT(MOTION_DIT_SIZES[size], 80, 4)
    v = model(torch.randn(2, N, 70), torch.rand(2), _cond())
    assert v.shape == (2, N, 70)
    assert torch.equal(v, torch.zeros_like(v))  # AdaLN-Zero: the initial velocity is exactly 0


def test_tiny_size_and_hubert_layer_weights():
    model = MotionDiT(MOTION_DIT_SIZES["tiny"], 8, 2, audio_layers=3)
    assert 10_000 < parameter_count(model) < 100_000
    v = _active(model)(torch.randn(2, N, 70), torch.rand(2), _cond(hubert_layers=3))
    assert v.shape == (2, N, 70)
    v.square().mean().backward()
    assert model.layer_weights.grad is not None and model.layer_weights.grad.abs().sum() > 0


def test_base_on_meta_device():
    with torch.device("meta"):
        model = MotionDiT(MOTION_DIT_SIZES["base"], 768, 2, audio_layers=12)
        v = model(torch.randn(1, 80, 70), torch.rand(1),
                  MotionCond(torch.randn(1, 160, 12, 768), torch.randn(1, 70), torch.randn(1, 16, 70),
                             torch.tensor([8])))
    assert v.shape == (1, 80, 70)
    spec = MOTION_DIT_SIZES["base"]
    assert (spec.four, spec.double, spec.single, spec.hidden, spec.heads) == (3, 6, 12, 768, 12)
    assert 300e6 < parameter_count(model) < 450e6  # 21 blocks of 768 wide, 4/2/1 streams' weights


def test_every_block_is_identity_at_init():
    model = MotionDiT(MOTION_DIT_SIZES["tiny"], 80, 4)
    x, c = torch.randn(2, 2 * N + 1 + P, 16), torch.randn(2, 16)
    rope = rope_angles(model.positions(N, P, x.device), 8)
    for block, sizes in zip(model.blocks, model.stream_sizes(N, P)):
        assert torch.equal(block(x, c, sizes, rope), x)


def test_rope_scores_depend_only_on_the_offset():
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 8, generator=g), torch.randn(1, 8, generator=g)

    def score(m: int, n: int) -> torch.Tensor:
        cq, sq = rope_angles(torch.tensor([m]), 8)
        ck, sk = rope_angles(torch.tensor([n]), 8)
        return (apply_rope(q, cq, sq) * apply_rope(k, ck, sk)).sum()

    for shift in (1, 7, 100):
        assert torch.allclose(score(3, 5), score(3 + shift, 5 + shift), atol=1e-5)
    assert not torch.allclose(score(3, 5), score(3, 6), atol=1e-3)


def test_flow_loss_falls_when_overfitting_one_batch():
    torch.manual_seed(0)
    model = MotionDiT(MOTION_DIT_SIZES["tiny"], 80, 4)
    cond, x1 = _cond(), torch.randn(2, N, 70, generator=torch.Generator().manual_seed(9))
    cfg = MotionDitConfig.from_dict({"time_sampling": "uniform"})
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(80):
        loss = flow_loss(model, cond, x1, cfg, torch.Generator().manual_seed(5))  # the same times and noise
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0]


@pytest.mark.parametrize(("steps", "shift"), [(1, 1.0), (10, 1.0), (10, 3.0)])
def test_euler_with_the_exact_linear_flow_reaches_the_target(steps, shift):
    g = torch.Generator().manual_seed(0)
    x0, x1 = torch.randn(3, 5, 70, generator=g), torch.randn(3, 5, 70, generator=g)

    def velocity(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:  # the straight path's field towards x1
        return (x1 - x) / (1 - t)[:, None, None]

    assert torch.allclose(fm.euler_sample(velocity, x0, steps, shift), x1, atol=1e-5)
    const = fm.euler_sample(lambda x, t: fm.target_velocity(x0, x1), x0, steps, shift)
    assert torch.allclose(const, x1, atol=1e-5)


def test_time_shift_and_interpolation():
    t = torch.linspace(0, 1, 11)
    assert torch.equal(fm.shift_time(t, 1.0), t)
    shifted = fm.shift_time(t, 3.0)
    assert shifted[0] == 0 and shifted[-1] == 1 and (shifted[1:-1] < t[1:-1]).all()  # more time near noise
    x0, x1 = torch.zeros(2, 3, 70), torch.ones(2, 3, 70)
    assert torch.equal(fm.interpolate(x0, x1, torch.tensor([0.0, 1.0])), torch.stack([x0[0], x1[1]]))
    ts = fm.train_times(1000, "logit_normal", 1.0, torch.Generator().manual_seed(0))
    assert 0 < ts.min() and ts.max() < 1 and abs(ts.mean().item() - 0.5) < 0.05


def test_cfg_scale_one_is_conditional_and_zero_unconditional_exactly():
    model = _active(MotionDiT(MOTION_DIT_SIZES["tiny"], 80, 4)).eval()
    x, t, cond = torch.randn(2, N, 70), torch.rand(2), _cond()
    keep, drop = torch.zeros(2, dtype=torch.bool), torch.ones(2, dtype=torch.bool)
    with torch.no_grad():
        v_c = model(x, t, MotionCond(cond.audio, cond.ref, cond.prev, cond.emotion, keep))
        v_u = model(x, t, MotionCond(cond.audio, cond.ref, cond.prev, cond.emotion, drop))
        assert torch.equal(guided_velocity(model, x, t, cond, 1.0), v_c)
        assert torch.equal(guided_velocity(model, x, t, cond, 0.0), v_u)
        assert not torch.equal(v_c, v_u)  # the audio matters
        assert torch.allclose(guided_velocity(model, x, t, cond, 1.2), v_u + 1.2 * (v_c - v_u), atol=1e-5)


def test_sampling_is_deterministic_under_a_seed():
    model = _active(MotionDiT(MOTION_DIT_SIZES["tiny"], 80, 4)).eval()
    a = sample(model, _cond(), N, 4, 1.2, 1.0, torch.Generator().manual_seed(3))
    b = sample(model, _cond(), N, 4, 1.2, 1.0, torch.Generator().manual_seed(3))
    c = sample(model, _cond(), N, 4, 1.2, 1.0, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_audio_level_reaches_the_model():
    """A uniformly louder frame (+c on every log-mel row) is a different audio token: a per-frame LayerNorm would
    divide the loudness out, and loudness is what a mouth follows most."""
    model = MotionDiT(MOTION_DIT_SIZES["tiny"], 80, 4)
    model.set_audio_stats(torch.full((80,), -5.0), torch.full((80,), 2.0))
    audio = _cond(1).audio
    assert not torch.allclose(model.embed_audio(audio, N), model.embed_audio(audio + 1.0, N), atol=1e-3)
    standardised = (audio - model.audio_mean) / model.audio_std
    assert standardised.mean().abs() < 2.0 and 0.2 < standardised.std() < 2.0  # mel of ~N(-5, 1) on a ~unit scale
    with pytest.raises(ValueError, match="audio stats"):
        model.set_audio_stats(torch.zeros(40), torch.ones(40))

"""DualForce model: shapes per size, AdaLN-Zero start, shallow-fusion bridge, sizes on meta, the forcing loss."""

from __future__ import annotations

import pytest
import torch

from talkhead.models.layers import parameter_count
from talkhead.models.video_df import DUALFORCE_SIZES, LIP_CHANNELS, DFCond, DualForce, DualForceSpec, build_on_meta
from talkhead.models.video_df_forcing import (LossWeights, context_prefix, forcing_loss, frame_times, noised,
                                              speech_weight)

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

C, S, T = 4, 8, 5


def _cond(b: int = 2, layers: int = 0, seed: int = 0) -> DFCond:
    g = torch.Generator().manual_seed(seed)
    audio = torch.randn(b, 2 * T, layers, 8, generator=g) if layers else torch.randn(b, 4 * T, 80, generator=g)
    return DFCond(torch.randn(b, C, S, S, generator=g), torch.randn(b, 70, generator=g), audio)


def _x(b: int = 2, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, T, C, S, S, generator=g), torch.randn(b, T, 70, generator=g),
            torch.rand(b, T, generator=g), torch.rand(b, T, generator=g))


def _randomise(model: DualForce, skip: str = "") -> DualForce:
    g = torch.Generator().manual_seed(5)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not (skip and skip in name):
                p.copy_(torch.randn(p.shape, generator=g) * 0.15)
    return model


@pytest.mark.parametrize("size", ["tiny", "small"])
def test_shapes_and_zero_initial_velocity(size):
    model = DualForce(DUALFORCE_SIZES[size], C, S, 80, 4, 0, 1)
    vv, vs = model(*_x(), _cond())
    assert vv.shape == (2, T, C, S, S) and vs.shape == (2, T, 70)
    assert vv.abs().max() == 0 and vs.abs().max() == 0  # AdaLN-Zero output layers


def test_hubert_audio_layers():
    model = _randomise(DualForce(DUALFORCE_SIZES["tiny"], C, S, 8, 2, 3, 1))
    vv, vs = model(*_x(), _cond(layers=3))
    assert vv.shape == (2, T, C, S, S) and torch.isfinite(vs).all()


def test_input_layout_scales_the_notes_16_4_16():
    assert build_on_meta("tiny", latent_channels=16).video_in.in_features == (16 + 4 + 16) * 2 * 2
    assert DualForce(DUALFORCE_SIZES["tiny"], 4, S, 80, 4).video_in.in_features == (4 + 1 + 4) * 2 * 2


def test_bridge_gates_start_closed_and_couple_when_open():
    model = _randomise(DualForce(DUALFORCE_SIZES["tiny"], C, S, 80, 4, 0, 2), skip="gate_")
    xv, xs, tv, ts = _x()
    cond = _cond()
    with torch.no_grad():
        base = model(xv, xs, tv, ts, cond)[0]
        assert torch.equal(model(xv, xs + 1.0, tv, ts, cond)[0], base)  # closed gates: towers independent
        for bridge in model.bridges:
            bridge.gate_v.fill_(0.5)
        open_ = model(xv, xs, tv, ts, cond)[0]
        assert (model(xv, xs + 1.0, tv, ts, cond)[0] - open_).abs().max() > 1e-4  # structure now reaches video


def test_bridge_only_in_the_first_k_layers():
    model = DualForce(DUALFORCE_SIZES["small"], C, S, 80, 4, 0, 2)
    assert len(model.bridges) == 2 and len(model.video) == len(model.struct) == DUALFORCE_SIZES["small"].depth
    with pytest.raises(ValueError, match="bridge_layers"):
        DualForce(DUALFORCE_SIZES["tiny"], C, S, 80, 4, 0, 3)


def test_bad_specs():
    with pytest.raises(ValueError, match="even width"):
        DualForceSpec(video_hidden=30, struct_hidden=16, heads=2)
    with pytest.raises(ValueError, match="patch"):
        DualForce(DUALFORCE_SIZES["tiny"], C, 7, 80, 4)
    with pytest.raises(ValueError, match="disagree"):
        DualForce(DUALFORCE_SIZES["tiny"], C, S, 80, 4)(*_x()[:2], torch.rand(2, T - 1), torch.rand(2, T), _cond())


def test_registry_builds_on_meta_with_growing_counts():
    counts = {name: parameter_count(build_on_meta(name)) for name in DUALFORCE_SIZES}
    assert counts["tiny"] < counts["small"] < 5e6 < 1e8 < counts["base"] < 1e9 < 1.5e9 < counts["large"] < 3e9
    assert next(build_on_meta("large").parameters()).device.type == "meta"


def test_diffusion_forcing_draws():
    g = torch.Generator().manual_seed(0)
    t = frame_times(64, 8, "uniform", 1.0, g)
    assert t.shape == (64, 8) and t.std(1).mean() > 0.1  # independent per frame
    ctx = context_prefix(200, 8, 0.5, g)
    lengths = ctx.sum(1)
    assert ((ctx.int().diff(dim=1)) <= 0).all()  # a prefix
    assert (lengths == 0).any() and (lengths > 0).any() and lengths.max() <= 7
    x0, x1 = torch.zeros(2, 3, 4), torch.ones(2, 3, 4)
    torch.testing.assert_close(noised(x0, x1, torch.tensor([[0.0, 0.5, 1.0]] * 2))[0, :, 0], torch.tensor([0, .5, 1]))


def test_speech_weight_follows_loudness():
    mel = torch.zeros(1, 4 * T, 80)
    mel[:, 8:12] = 3.0  # frame 2 loud
    w = speech_weight(mel, 4)
    assert w.argmax().item() == 2 and w.max() == 1 and w.min() == 0


def test_forcing_loss_terms_and_gradients():
    model = _randomise(DualForce(DUALFORCE_SIZES["tiny"], C, S, 80, 4, 0, 1))
    xv, xs, _, _ = _x()
    cond = _cond()
    terms = forcing_loss(model, xv, xs, cond, speech_weight(cond.audio, 4), LossWeights(1.0, 0.5, 0.25),
                         "logit_normal", 1.0, 0.5, torch.Generator().manual_seed(0))
    assert set(terms) == {"loss", "video", "struct", "lip"}
    torch.testing.assert_close(terms["loss"], terms["video"] + 0.5 * terms["struct"] + 0.25 * terms["lip"])
    terms["loss"].backward()
    assert model.out_v.weight.grad.abs().sum() > 0 and model.out_s.weight.grad.abs().sum() > 0
    assert len(LIP_CHANNELS) == 18

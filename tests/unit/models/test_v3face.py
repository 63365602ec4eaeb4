"""V3 Face: shapes, the finite receptive field (exact streaming) and the lipsync branch's independence."""

from __future__ import annotations

import pytest
import torch

from talkhead.models.arkit_channels import EXPRESSION_INDEX, LIPSYNC_INDEX
from talkhead.models.layers import parameter_count
from talkhead.models.v3face import V3FACE_SIZES, V3Face, audio_features, audio_rows
from talkhead.vocab import EMOTIONS, emotion_id

LIP, EXPR = list(LIPSYNC_INDEX), list(EXPRESSION_INDEX)


def _model(lookahead: int = 1, audio_dim: int = 80, rows: int = 4, cond_dim: int = 4) -> V3Face:
    torch.manual_seed(0)
    return V3Face(V3FACE_SIZES["tiny"], audio_dim, rows, cond_dim, lookahead).eval()


def _inputs(model: V3Face, frames: int, batch: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    audio = torch.randn(batch, model.audio_rows * frames, model.audio_dim, generator=g)
    cond = model.emotion.cond(torch.tensor([0, 8][:batch]), frames)
    return audio, cond


@pytest.mark.parametrize("modality,raw_shape", [("audio_mel", (2, 40, 80)), ("audio_hubert", (2, 20, 3, 16))])
def test_shapes_for_both_audio_kinds(modality, raw_shape):
    audio = audio_features(torch.randn(raw_shape).half(), modality)
    assert audio.shape == (2, raw_shape[1], raw_shape[-1]) and audio.dtype == torch.float32
    model = _model(audio_dim=audio.shape[-1], rows=audio_rows(modality))
    frames = audio.shape[1] // audio_rows(modality)
    out = model(audio, model.emotion.cond(torch.tensor([3, 8]), frames))
    assert out.shape == (2, frames, 52)
    assert (out > 0).all() and (out < 1).all()


def test_registry_sizes_grow_and_the_receptive_field_splits_into_context_and_lookahead():
    counts = [parameter_count(V3Face(V3FACE_SIZES[n], 80, 4, 8, 2)) for n in ("tiny", "small", "base")]
    assert counts[0] < 20_000 < counts[1] < 1_000_000 < counts[2]
    m = _model(lookahead=1)
    assert m.context + m.lookahead == V3FACE_SIZES["tiny"].receptive_field and m.lookahead == 1
    with pytest.raises(ValueError, match="lookahead"):
        _model(lookahead=V3FACE_SIZES["tiny"].receptive_field + 1)


@pytest.mark.parametrize("lookahead", [0, 1, 2])
def test_output_depends_only_on_frames_inside_the_receptive_field(lookahead):
    model = _model(lookahead=lookahead)
    frames, t = 16, 8
    audio, cond = _inputs(model, frames)
    base = model(audio, cond)
    r = model.audio_rows

    def perturbed(frame: int) -> torch.Tensor:
        a = audio.clone()
        a[:, r * frame:r * (frame + 1)] += 3.0
        return model(a, cond)[:, t]

    for outside in (t + model.lookahead + 1, t - model.context - 1):
        assert torch.equal(perturbed(outside), base[:, t]), outside
    for inside in (t - model.context, t, t + model.lookahead):
        assert not torch.allclose(perturbed(inside), base[:, t]), inside
    c = cond.clone()
    c[:, t + model.lookahead + 1] += 1.0
    assert torch.equal(model(audio, c)[:, t], base[:, t])


def test_forward_is_forward_valid_on_zero_padded_input_and_chunks_stream_exactly():
    model = _model(lookahead=2)
    frames = 12
    audio, cond = _inputs(model, frames)
    p, la, r = model.context, model.lookahead, model.audio_rows
    pad_a = torch.cat([audio.new_zeros(2, r * p, 80), audio, audio.new_zeros(2, r * la, 80)], dim=1)
    pad_c = torch.cat([cond.new_zeros(2, p, 4), cond, cond.new_zeros(2, la, 4)], dim=1)
    full = model(audio, cond)
    assert torch.equal(full, model.forward_valid(pad_a, pad_c))
    # streaming: chunks of 4 output frames, each given its context and look-ahead
    chunks = [model.forward_valid(pad_a[:, r * s:r * (s + 4 + p + la)], pad_c[:, s:s + 4 + p + la])
              for s in range(0, frames, 4)]
    assert torch.allclose(torch.cat(chunks, dim=1), full, atol=1e-6)


def test_lipsync_outputs_do_not_depend_on_expression_parameters():
    model = _model()
    audio, cond = _inputs(model, 10)
    before = model(audio, cond)
    with torch.no_grad():
        for p in model.expression_parameters():
            p.add_(torch.randn_like(p))
    after = model(audio, cond)
    assert torch.equal(after[..., LIP], before[..., LIP])
    assert not torch.allclose(after[..., EXPR], before[..., EXPR])
    # and no gradient reaches the lipsync branch through the expression outputs
    model.zero_grad()
    model(audio, cond)[..., EXPR].sum().backward()
    assert all(p.grad is None or not p.grad.any() for m in model.lipsync_modules() for p in m.parameters())


def test_freeze_lipsync_stops_its_gradients_and_keeps_it_in_eval():
    model = _model()
    model.freeze_lipsync()
    model.train()
    assert all(not p.requires_grad for m in model.lipsync_modules() for p in m.parameters())
    assert all(p.requires_grad for p in model.expression_parameters())
    assert not model.frontend.training and model.expression_in.training


def test_emotion_ids_and_cond():
    assert len(EMOTIONS) == 9 and emotion_id("none") == 8 and emotion_id("anger") == 0 and emotion_id("") == 8
    model = _model()
    c = model.emotion.cond(torch.tensor([1, 2, 8]), 5)
    assert c.shape == (3, 5, 4) and torch.equal(c[:, 0], c[:, 4])

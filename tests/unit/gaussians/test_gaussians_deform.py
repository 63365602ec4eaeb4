"""The deformation field: zero at the start, conditioned on audio and expression, N-agnostic."""

from __future__ import annotations

import pytest
import torch

from talkhead.gaussians.deform import DeformationField, DeformSpec, Triplane, mel_window

pytestmark = pytest.mark.usefixtures("one_thread")

SPEC = DeformSpec(plane_res=8, plane_dim=4, dim=16, heads=4, audio_context=1)


def field() -> DeformationField:
    torch.manual_seed(0)
    return DeformationField(SPEC, torch.full((3,), -1.0), torch.full((3,), 1.0))


def test_heads_start_at_zero_so_fine_starts_from_coarse():
    d = field()(torch.randn(30, 3), torch.randn(SPEC.mel_rows, 80), torch.rand(21))
    for t in (d.means, d.quats, d.log_scales, d.opacity_logits):
        assert float(t.detach().abs().max()) == 0.0
    assert d.means.shape == (30, 3) and d.quats.shape == (30, 4) and d.opacity_logits.shape == (30,)


def test_after_a_step_the_offsets_depend_on_audio_and_expression():
    f = field()
    means, mel, expr = torch.randn(30, 3), torch.randn(SPEC.mel_rows, 80), torch.rand(21)
    opt = torch.optim.SGD(f.parameters(), lr=0.1)
    f(means, mel, expr).means.sum().backward()
    opt.step()
    with torch.no_grad():
        base = f(means, mel, expr).means
        other_audio = f(means, mel + 1.0, expr).means
        other_expr = f(means, mel, 1.0 - expr).means
    assert float((base - other_audio).abs().max()) > 1e-6 and float((base - other_expr).abs().max()) > 1e-6


def test_triplane_interpolates_its_planes():
    tp = Triplane(res=2, dim=1)
    with torch.no_grad():
        tp.planes.zero_()
        tp.planes[0, 0] = torch.tensor([[0.0, 1.0], [0.0, 1.0]])  # xy plane grows with x
    out = tp(torch.tensor([[-1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.5, -1.0]]))
    assert torch.allclose(out[:, 0], torch.tensor([0.0, 0.5, 1.0]))


def test_mel_window_repeats_edges():
    mel = torch.arange(8.0)[:, None].expand(8, 80)  # 2 video frames
    w = mel_window(mel, 0, 1)
    assert w.shape == (12, 80) and w[:4, 0].tolist() == [0, 0, 0, 0] and w[4:8, 0].tolist() == [0, 1, 2, 3]
    assert mel_window(mel, 1, 1)[8:, 0].tolist() == [7, 7, 7, 7]

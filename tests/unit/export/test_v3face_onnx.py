"""The streaming V3 Face deployable: chunk-invariance, latency contract, ONNX export/runtime parity, int8."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from talkhead.export.crisp import StreamingCrisp
from talkhead.export.v3face_onnx import (INPUT_NAMES, OUTPUT_NAMES, V3FaceDeployable, export_onnx,
                                         quantize_if_large, stream_onnx, stream_torch, verify_onnx)

AUDIO_DIM, COND_DIM, ROWS, P, L = 8, 3, 4, 3, 2
FILTER = dict(alpha=0.4, edge0=0.05, edge1=0.3, scale=1.1)


class TinyCausalModel(nn.Module):
    """Stand-in for V3 Face: a valid Conv1d over frames, output frame t sees frames [t − P, t + L]."""

    def __init__(self, context: int = P, lookahead: int = L, audio_rows: int = ROWS):
        super().__init__()
        self.context, self.lookahead, self.audio_rows = context, lookahead, audio_rows
        self.conv = nn.Conv1d(audio_rows * AUDIO_DIM + COND_DIM, 52, context + lookahead + 1)

    def forward_valid(self, audio: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        frames = audio.reshape(audio.shape[0], -1, self.audio_rows * audio.shape[-1])  # (B, N, rows·F)
        h = torch.cat([frames, cond], dim=-1).transpose(1, 2)  # (B, D, N)
        return torch.sigmoid(self.conv(h)).transpose(1, 2)  # (B, N − P − L, 52)


@pytest.fixture(scope="module")
def deployable() -> V3FaceDeployable:
    torch.manual_seed(0)
    return V3FaceDeployable(TinyCausalModel(), **FILTER).eval()


@pytest.fixture(scope="module")
def stream() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    frames = 83
    return torch.randn(2, ROWS * frames, AUDIO_DIM, generator=g), torch.randn(2, frames, COND_DIM, generator=g)


@pytest.fixture(scope="module")
def onnx_path(deployable, tmp_path_factory):
    return export_onnx(deployable, tmp_path_factory.mktemp("onnx") / "v3face.onnx", AUDIO_DIM, COND_DIM, opset=17)


@pytest.mark.parametrize("chunk", [1, 7, 40])
@torch.no_grad()
def test_deployable_chunks_equal_one_call(deployable, stream, chunk):
    audio, cond = stream
    one = stream_torch(deployable, audio, cond, chunk_frames=audio.shape[1])
    torch.testing.assert_close(stream_torch(deployable, audio, cond, chunk), one, atol=1e-5, rtol=1e-5)


@torch.no_grad()
def test_state_threads_and_is_the_last_window(deployable, stream):
    audio, cond = stream
    state = deployable.initial_state(2, AUDIO_DIM, COND_DIM)
    _, smoothed, next_audio, next_cond = deployable(audio[:, :ROWS * 10], cond[:, :10], *state)
    assert smoothed.shape == (2, 31)
    torch.testing.assert_close(next_audio, audio[:, ROWS * (10 - P - L):ROWS * 10])
    torch.testing.assert_close(next_cond, cond[:, 10 - P - L:10])


@torch.no_grad()
def test_stream_is_model_with_latency_plus_filter(deployable, stream):
    audio, cond = stream
    frames = cond.shape[1]
    streamed = stream_torch(deployable, audio, cond, chunk_frames=7)
    # the stream = the plain model on the zero-prefixed stream (P + L zero frames), then the filter
    pad_a, pad_c = torch.zeros(2, ROWS * (P + L), AUDIO_DIM), torch.zeros(2, P + L, COND_DIM)
    raw = deployable.model.forward_valid(torch.cat([pad_a, audio], 1), torch.cat([pad_c, cond], 1))  # (B, T, 52)
    expected, _ = StreamingCrisp(**FILTER)(raw, torch.zeros(2, 31))
    torch.testing.assert_close(streamed, expected, atol=1e-5, rtol=1e-5)
    # latency L: output k is the model's frame k − L (zero past for the first P model frames)
    model = deployable.model.forward_valid(torch.cat([pad_a[:, :ROWS * P], audio], 1),
                                           torch.cat([pad_c[:, :P], cond], 1))  # frames 0 .. T − L − 1
    expr = deployable.crisp.other_index
    torch.testing.assert_close(streamed[:, L:, expr], model[:, :frames - L, expr])


def test_onnx_graph_has_names_and_dynamic_axes(onnx_path):
    graph = onnx.load(str(onnx_path)).graph
    assert [i.name for i in graph.input] == INPUT_NAMES
    assert [o.name for o in graph.output] == OUTPUT_NAMES
    dims = {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in list(graph.input) + list(graph.output)}
    assert dims["audio"][:2] == ["batch", "audio_frames"] and dims["cond"][:2] == ["batch", "frames"]
    assert dims["blendshapes"] == ["batch", "frames", 52]
    assert dims["prev_smoothed"] == ["batch", 31] and dims["prev_cond"] == ["batch", P + L, COND_DIM]


def test_onnx_matches_torch(onnx_path, deployable):
    diff = verify_onnx(onnx_path, deployable, AUDIO_DIM, COND_DIM, chunk_frames=(5, 17), batches=(1, 2))
    assert diff <= 1e-4, diff


@pytest.mark.parametrize("chunk", [1, 7, 40])
def test_onnx_stream_equals_torch_stream(onnx_path, deployable, stream, chunk):
    audio, cond = stream
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = stream_onnx(session, audio[0].numpy(), cond[0].numpy(), chunk)
    with torch.no_grad():
        expected = stream_torch(deployable, audio[:1], cond[:1], chunk)[0].numpy()
    assert got.shape == (cond.shape[1], 52)
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_quantize_if_large(onnx_path, stream):
    assert quantize_if_large(onnx_path, above_mb=1e6) is None
    q = quantize_if_large(onnx_path, above_mb=0.0)
    assert q is not None and q.name == "v3face.int8.onnx" and q.exists()
    audio, cond = (x[0].numpy() for x in stream)
    fp32 = stream_onnx(ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]), audio, cond, 7)
    int8 = stream_onnx(ort.InferenceSession(str(q), providers=["CPUExecutionProvider"]), audio, cond, 7)
    assert np.isfinite(int8).all()
    assert np.abs(int8 - fp32).max() < 0.05  # measured ~4e-3 on this tiny conv


@pytest.mark.slow  # torch.export tracing takes ~15 s on 2 cores
def test_dynamo_exporter_also_matches(deployable, tmp_path):
    path = export_onnx(deployable, tmp_path / "dynamo.onnx", AUDIO_DIM, COND_DIM, opset=18, dynamo=True)
    assert verify_onnx(path, deployable, AUDIO_DIM, COND_DIM, chunk_frames=(3, 11), batches=(1, 3)) <= 1e-4

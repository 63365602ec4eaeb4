"""The streaming V3 Face deployable (model + crisp_mouth) and its ONNX export, check and int8 copy.

This is Option 1 of the V3 Face notes ("export wrapper"): one ONNX artifact holding the network and
the streaming crisp_mouth filter, its state threaded through inputs and outputs so a caller can cut
the stream into chunks of any length and get the same frames as one call.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from talkhead.export.crisp import N_LIPSYNC, StreamingCrisp

log = logging.getLogger(__name__)

INPUT_NAMES = ["audio", "cond", "prev_smoothed", "prev_audio", "prev_cond"]
OUTPUT_NAMES = ["blendshapes", "next_smoothed", "next_audio", "next_cond"]


class V3FaceDeployable(nn.Module):
    """A V3 Face model plus StreamingCrisp as one chunk-invariant streaming step.

    The model contract: int attributes `context` (P), `lookahead` (L), `audio_rows` (audio rows
    per video frame) and `forward_valid(audio (B, rows·(P+T+L), F), cond (B, P+T+L, C)) → (B, T, 52)`.

    One call takes a chunk of n new frames and the state — the EMA state `prev_smoothed` (B, 31) and
    the last P+L frames seen, `prev_audio` (B, rows·(P+L), F) and `prev_cond` (B, P+L, C) — prepends
    the context to the chunk, runs forward_valid (n frames out) and the filter, and returns the new
    state. The seed's graph carries only prev_smoothed: that is enough for a frame-local model, but a
    model whose output frame sees P past and L future frames cannot be chunk-invariant unless those
    frames are carried across the chunk boundary, so the audio/cond context is state too.

    Latency and start: all-zero state is the start of a stream (zero audio/cond before frame 0).
    Output frame k of the stream is the model's frame k − L, a fixed latency of L frames: the
    first L outputs belong to the zero prelude before the stream (they see zero context only and the
    filter warms up on them), and model frames 0..P−1 see zeros as their past. To flush the last L
    frames, feed L frames of zeros at the end.
    """

    def __init__(self, model: nn.Module, alpha: float = 0.5, edge0: float = 0.09, edge1: float = 0.36,
                 scale: float = 1.0):
        super().__init__()
        self.model = model
        self.crisp = StreamingCrisp(alpha, edge0, edge1, scale)
        self.context = int(model.context)
        self.lookahead = int(model.lookahead)
        self.audio_rows = int(model.audio_rows)
        self.window = self.context + self.lookahead  # frames of context carried as state

    def initial_state(self, batch: int, audio_dim: int, cond_dim: int,
                      dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The all-zero state that starts a stream: (prev_smoothed, prev_audio, prev_cond)."""
        return (torch.zeros(batch, N_LIPSYNC, dtype=dtype),
                torch.zeros(batch, self.audio_rows * self.window, audio_dim, dtype=dtype),
                torch.zeros(batch, self.window, cond_dim, dtype=dtype))

    def forward(self, audio: torch.Tensor, cond: torch.Tensor, prev_smoothed: torch.Tensor,
                prev_audio: torch.Tensor, prev_cond: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One streaming step; returns blendshapes (B, n, 52) and the next state."""
        full_audio = torch.cat([prev_audio, audio], dim=1)  # (B, rows·(P+L+n), F)
        full_cond = torch.cat([prev_cond, cond], dim=1)  # (B, P+L+n, C)
        raw = self.model.forward_valid(full_audio, full_cond)  # (B, n, 52)
        blendshapes, next_smoothed = self.crisp(raw, prev_smoothed)
        if self.window == 0:
            return blendshapes, next_smoothed, full_audio[:, :0], full_cond[:, :0]
        next_audio = full_audio[:, -self.audio_rows * self.window:]  # (B, rows·(P+L), F)
        next_cond = full_cond[:, -self.window:]  # (B, P+L, C)
        return blendshapes, next_smoothed, next_audio, next_cond


def stream_torch(deployable: V3FaceDeployable, audio: torch.Tensor, cond: torch.Tensor,
                 chunk_frames: int) -> torch.Tensor:
    """Run a (B, rows·T, F) / (B, T, C) stream through the deployable in chunks → (B, T, 52)."""
    rows, n_frames = deployable.audio_rows, cond.shape[1]
    state = deployable.initial_state(cond.shape[0], audio.shape[-1], cond.shape[-1], audio.dtype)
    outs = []
    for start in range(0, n_frames, chunk_frames):
        stop = min(start + chunk_frames, n_frames)
        y, *state = deployable(audio[:, rows * start:rows * stop], cond[:, start:stop], *state)
        outs.append(y)
    return torch.cat(outs, dim=1)


def _example_inputs(deployable: V3FaceDeployable, batch: int, frames: int, audio_dim: int, cond_dim: int,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, ...]:
    rows, window = deployable.audio_rows, deployable.window
    return (torch.randn(batch, rows * frames, audio_dim, generator=generator),
            torch.randn(batch, frames, cond_dim, generator=generator),
            torch.rand(batch, N_LIPSYNC, generator=generator),
            torch.randn(batch, rows * window, audio_dim, generator=generator),
            torch.randn(batch, window, cond_dim, generator=generator))


def export_onnx(deployable: V3FaceDeployable, path: str | Path, audio_dim: int, cond_dim: int,
                opset: int = 17, dynamo: bool = False) -> Path:
    """Export the deployable to ONNX with dynamic batch and time axes; returns the path.

    Default: the legacy TorchScript exporter (`dynamo=False`, deprecated but stable): plain
    `dynamic_axes`, no onnxscript, and no guards — a real model with data-dependent shape code still
    exports. `dynamo=True` uses torch.export with `Dim`s (audio time = audio_rows · frames), which also
    keeps the state outputs' sizes static; it needs onnxscript and fails on unprovable shape logic.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    batch = {0: "batch"}
    dynamic_axes = {
        "audio": {0: "batch", 1: "audio_frames"}, "cond": {0: "batch", 1: "frames"},
        "blendshapes": {0: "batch", 1: "frames"},
        **{name: batch for name in ("prev_smoothed", "prev_audio", "prev_cond",
                                    "next_smoothed", "next_audio", "next_cond")},
    }
    example = _example_inputs(deployable, 2, 8, audio_dim, cond_dim, torch.Generator().manual_seed(0))
    deployable = deployable.eval()
    if dynamo:
        b, t = torch.export.Dim("batch"), torch.export.Dim("frames")
        shapes = {"audio": {0: b, 1: deployable.audio_rows * t}, "cond": {0: b, 1: t},
                  **{name: {0: b} for name in ("prev_smoothed", "prev_audio", "prev_cond")}}
        kwargs = {"dynamic_shapes": shapes, "dynamo": True}
    else:
        kwargs = {"dynamic_axes": dynamic_axes, "dynamo": False}
    with torch.no_grad():
        torch.onnx.export(deployable, example, str(path), input_names=INPUT_NAMES, output_names=OUTPUT_NAMES,
                          opset_version=opset, **kwargs)
    log.info("exported %s (%.2f MB, opset %d)", path, path.stat().st_size / 2**20, opset)
    return path


def _session(path: str | Path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def verify_onnx(path: str | Path, deployable: V3FaceDeployable, audio_dim: int, cond_dim: int,
                chunk_frames: tuple[int, ...] = (5, 13), batches: tuple[int, ...] = (1, 2),
                seed: int = 0) -> float:
    """Max abs difference of every ONNX output vs torch on random chunks of each length and batch."""
    session = _session(path)
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    deployable = deployable.eval()
    for frames in chunk_frames:
        for batch in batches:
            inputs = _example_inputs(deployable, batch, frames, audio_dim, cond_dim, generator)
            with torch.no_grad():
                expected = deployable(*inputs)
            got = session.run(OUTPUT_NAMES, {n: x.numpy() for n, x in zip(INPUT_NAMES, inputs)})
            for e, g in zip(expected, got):
                if tuple(e.shape) != g.shape:
                    raise AssertionError(f"ONNX output shape {g.shape} != torch {tuple(e.shape)}")
                worst = max(worst, float(np.abs(e.numpy() - g).max(initial=0.0)))
    log.info("ONNX vs torch max abs diff %.3g", worst)
    return worst


def quantize_if_large(path: str | Path, above_mb: float) -> Path | None:
    """Dynamic int8 (QInt8 weights) copy `<stem>.int8.onnx` when the file exceeds above_mb, else None.

    Only nodes with a constant (initializer) input are quantized: the filter's EMA matmul multiplies
    two activations and stays float, so the quantization error comes from the network's weights alone.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = Path(path)
    size_mb = path.stat().st_size / 2**20
    if size_mb <= above_mb:
        return None
    graph = onnx.load(str(path)).graph
    constants = {init.name for init in graph.initializer}
    constants |= {out for node in graph.node if node.op_type == "Constant" for out in node.output}
    activation_only = [node.name for node in graph.node if not constants.intersection(node.input)]
    out = path.with_name(f"{path.stem}.int8.onnx")
    quantize_dynamic(str(path), str(out), weight_type=QuantType.QInt8, nodes_to_exclude=activation_only)
    log.info("quantized %s (%.2f MB) → %s (%.2f MB)", path, size_mb, out, out.stat().st_size / 2**20)
    return out


def stream_onnx(session, audio: np.ndarray, cond: np.ndarray, chunk_frames: int) -> np.ndarray:
    """Feed one (rows·T, F) / (T, C) stream through an ONNX session in chunks, threading the state → (T, 52)."""
    shapes = {i.name: i.shape for i in session.get_inputs()}
    n_frames = cond.shape[0]
    rows = audio.shape[0] // n_frames
    if rows * n_frames != audio.shape[0]:
        raise ValueError(f"audio rows {audio.shape[0]} are not a multiple of {n_frames} frames")
    state = [np.zeros((1, shapes["prev_smoothed"][1]), np.float32),
             np.zeros((1, shapes["prev_audio"][1], audio.shape[1]), np.float32),
             np.zeros((1, shapes["prev_cond"][1], cond.shape[1]), np.float32)]
    outs = []
    for start in range(0, n_frames, chunk_frames):
        stop = min(start + chunk_frames, n_frames)
        feed = dict(zip(INPUT_NAMES, [audio[None, rows * start:rows * stop].astype(np.float32),
                                      cond[None, start:stop].astype(np.float32), *state]))
        y, *state = session.run(OUTPUT_NAMES, feed)
        outs.append(y[0])
    return np.concatenate(outs, axis=0)

"""Sync-C / Sync-D parity with syncnet_python (benchmarks/parity/syncnet.py made the fixture).

The reference ran its own `SyncNetInstance.evaluate` (calc_pdist over ±15 frames, min / median of the
mean distance curve) with `SyncNetModel.S` under seeded random weights; talkhead rebuilds the same
weights in `SyncNetOfficial` (tests/parity/seeded.py) and scores the same face crops and audio.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from talkhead.eval.sync import score_syncnet, sync_scores, syncnet_embeddings
from talkhead.models.syncnet import SyncNetOfficial
from tests.parity.seeded import fill_seeded

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "parity" / "syncnet.npz"
RTOL = 1e-4  # float32 networks on both sides (the same torch CPU kernels); figures in docs/evaluation.md


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - b) / np.maximum(np.abs(b), 1e-12)))


def test_syncnet_pipeline_parity():
    ref = np.load(FIXTURE)
    torch.manual_seed(0)
    model = SyncNetOfficial()
    keys = "".join(f"{k}{tuple(v.shape)}" for k, v in sorted(model.state_dict().items()))
    assert hashlib.sha256(keys.encode()).hexdigest() == str(ref["state_keys_sha256"])  # same names and shapes
    fill_seeded(model, int(ref["seed"]))
    frames, samples = ref["frames"], ref["samples"]
    with torch.inference_mode():
        video, audio = syncnet_embeddings(model, frames, samples)
    dists = np.linalg.norm(video[:, None, :] - np.concatenate(  # calc_pdist's table (N, 31): zero-padded audio
        [np.zeros((15, audio.shape[1])), audio, np.zeros((15, audio.shape[1]))])[
        np.arange(len(audio))[:, None] + np.arange(31)[None, :]], axis=-1)
    assert dists.shape == ref["dists"].shape
    assert _rel(dists, ref["dists"]) < RTOL
    result = score_syncnet(model, frames, samples, max_offset=int(ref["vshift"]))
    assert _rel(result.curve, ref["mdist"]) < RTOL
    assert _rel(result.sync_d, float(ref["minval"])) < RTOL
    assert _rel(result.sync_c, float(ref["conf"])) < RTOL
    assert result.av_offset == -int(ref["offset"])  # syncnet_python prints vshift − argmin; talkhead + = audio late
    assert result.windows == len(ref["dists"])


def test_syncnet_offset_sign_parity():
    """syncnet_python's evaluate() on chosen embeddings (audio late by 3 frames): an interior minimum."""
    ref = np.load(FIXTURE)
    result = sync_scores(ref["syn_video"], ref["syn_audio"], max_offset=int(ref["vshift"]))
    assert _rel(result.curve, ref["syn_mdist"]) < RTOL
    assert _rel(result.sync_d, float(ref["syn_minval"])) < RTOL and _rel(result.sync_c, float(ref["syn_conf"])) < RTOL
    assert result.av_offset == int(ref["syn_shift"]) == -int(ref["syn_offset"])  # + = audio late in talkhead

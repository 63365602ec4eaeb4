"""V3 Face evaluation: exact L1 bookkeeping, and the whole stage on a tiny trained and exported model."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from talkhead.config import EvaluateConfig
from talkhead.eval.v3face import L1Sum, silent_audio, track_table
from talkhead.models.arkit_channels import EXPRESSION_INDEX, LIPSYNC_INDEX
from talkhead.stages import evaluate_v3face, export_v3face, train_expression, train_lipsync
from tests.unit.train.test_v3face_train import CFG, _dataset


def test_l1_sum_is_the_frame_mean_of_group_means():
    acc = L1Sum()
    target = np.zeros((3, 52), np.float32)
    pred = target.copy()
    pred[:, LIPSYNC_INDEX[0]] = 0.31  # one lipsync channel off by 0.31 on 3 frames
    pred[0, EXPRESSION_INDEX] = 1.0  # every expression channel off by 1 on the first frame
    acc.add(pred, target)
    acc.add(target[:1], target[:1])  # a perfect 1-frame clip
    r = acc.result()
    assert r["val_l1_lipsync"] == pytest.approx(3 * 0.31 / 31 / 4, abs=1e-6)
    assert r["val_l1_expression"] == pytest.approx(1 / 4)
    assert r["val_l1_all"] == pytest.approx((3 * 0.31 + 21) / 52 / 4, abs=1e-6)
    with pytest.raises(ValueError, match="shape"):
        acc.add(pred[:2], target)


def test_silence_is_log_mel_of_zeros_and_absent_for_hubert():
    quiet = silent_audio("audio_mel", 10)
    assert quiet.shape == (40, 80) and np.ptp(quiet) == 0  # digital silence: the floor everywhere
    assert silent_audio("audio_hubert", 10) is None


def test_track_table_names_unknown_channels():
    tracks = {"ground_truth": np.zeros((4, 52)), "model": np.ones((4, 52))}
    table = track_table(tracks, ["jawOpen"])
    assert list(table.columns) == ["frame", "ground_truth_jawOpen", "model_jawOpen"]
    with pytest.raises(ValueError, match="jawOpn"):
        track_table(tracks, ["jawOpn"])


def test_stage_scores_model_baselines_and_graphs(tmp_path):
    metadata = _dataset(tmp_path / "ds")
    cfg = json.dumps({**CFG, "epochs_lipsync": 6, "epochs_expression": 2})
    models = tmp_path / "models"
    assert train_lipsync.main(["--metadata", str(metadata), "--out", str(models / "lipsync"), "--cfg", cfg]) == 0
    assert train_expression.main(["--metadata", str(metadata), "--init", str(models / "lipsync"),
                                  "--out", str(models / "expression"), "--cfg", cfg]) == 0
    export = tmp_path / "export"
    assert export_v3face.main(["--model", str(models / "expression"), "--metadata", str(metadata),
                               "--out", str(export)]) == 0
    out = tmp_path / "eval"
    assert evaluate_v3face.main(["--model", str(models / "expression"), "--metadata", str(metadata),
                                 "--export", str(export), "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["split"] == "val" and m["clips"] == 1 and m["frames"] == 120 and m["plotted_clip"] == "b1"
    for name in ("model", "baseline_mean_pose", "baseline_silence", "model_crisp", "onnx_fp32", "onnx_int8"):
        assert set(m[name]) == {"val_l1_lipsync", "val_l1_expression", "val_l1_all"}
    # the tiny model learned the audio → lipsync mapping of the synthetic data: better than both baselines
    assert m["model"]["val_l1_lipsync"] < m["baseline_mean_pose"]["val_l1_lipsync"]
    assert m["model"]["val_l1_lipsync"] < m["baseline_silence"]["val_l1_lipsync"]
    assert m["int8_cost_val_l1"] == pytest.approx(m["onnx_int8"]["val_l1_all"] - m["onnx_fp32"]["val_l1_all"], abs=2e-6)
    assert abs(m["int8_cost_val_l1"]) < 0.02 and m["onnx_mb"]["onnx_int8"] > 0
    tracks = pd.read_csv(out / "tracks.csv")
    assert len(tracks) == 120 and {"ground_truth_jawOpen", "model_browInnerUp"} <= set(tracks.columns)
    assert (out / "plots" / "tracks.png").read_bytes()[:4] == b"\x89PNG"
    # a second evaluation writes the same files (DVC sees no change)
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert evaluate_v3face.main(["--model", str(models / "expression"), "--metadata", str(metadata),
                                 "--export", str(export), "--out", str(out), "--cfg",
                                 EvaluateConfig.from_dict({}).to_json()]) == 0
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before

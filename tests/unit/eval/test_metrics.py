"""val L1, which metrics a config allows (absent, never invented), metrics.json bytes, plots."""

from __future__ import annotations

import json

import numpy as np
import pytest

from talkhead.eval.metrics import absent_metrics, available_metrics, plot_tracks, val_l1, write_metrics


def test_val_l1_overall_and_per_group():
    pred = np.zeros((2, 3, 4))  # (clips, T, C)
    target = np.broadcast_to(np.array([1.0, 2.0, 3.0, 6.0]), (2, 3, 4))
    out = val_l1(pred, target, {"mouth": [0, 1], "brows": [3]})
    assert out == {"val_l1": 3.0, "val_l1_mouth": 1.5, "val_l1_brows": 6.0}
    with pytest.raises(ValueError, match="differ in shape"):
        val_l1(pred, target[:1])
    with pytest.raises(ValueError, match="empty"):
        val_l1(pred, target, {"none": []})


def test_network_metrics_are_absent_until_their_network_exists(tmp_path):
    assert available_metrics({}) == ["lmd_mediapipe", "val_l1"]
    assert absent_metrics({})["fvd_i3d"] == "i3d_path is not set"
    assert "does not exist" in absent_metrics({"inception_path": str(tmp_path / "missing.pt")})["fid_inception"]
    (tmp_path / "inception.pt").write_bytes(b"x")
    (tmp_path / "syncnet_v2.model").write_bytes(b"x")
    names = available_metrics({"inception_path": str(tmp_path / "inception.pt"),
                               "syncnet_path": str(tmp_path / "syncnet_v2.model")})
    assert names == ["av_offset_syncnet", "fid_inception", "lmd_mediapipe", "sync_c_syncnet", "sync_d_syncnet",
                     "val_l1"]


def test_metrics_json_is_sorted_deterministic_and_refuses_what_dvc_cannot_read(tmp_path):
    metrics = {"val_l1": np.float32(0.25), "b": {"z": 1, "a": np.int64(2)},
               "absent": {"fvd_i3d": "i3d_path is not set"}}
    write_metrics(tmp_path / "m1.json", metrics)
    write_metrics(tmp_path / "m2.json", dict(reversed(list(metrics.items()))))
    text = (tmp_path / "m1.json").read_text()
    assert text == (tmp_path / "m2.json").read_text() and text.endswith("}\n")
    assert list(json.loads(text)) == ["absent", "b", "val_l1"] and json.loads(text)["b"] == {"a": 2, "z": 1}
    with pytest.raises(ValueError, match="record it as absent"):
        write_metrics(tmp_path / "bad.json", {"fid_inception": float("nan")})
    with pytest.raises(ValueError, match="only numbers"):
        write_metrics(tmp_path / "bad.json", {"deep": {"er": {"x": 1}}})


def test_track_plot_is_a_png(tmp_path):
    t = np.linspace(0, 1, 50)
    pred, gt = np.stack([t, 1 - t], 1), np.stack([t ** 2, 1 - t ** 2], 1)
    plot_tracks(tmp_path / "tracks.png", pred, gt, ["jawOpen", "browInnerUp"], title="clip c0")
    assert (tmp_path / "tracks.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"\(T, 3\)"):
        plot_tracks(tmp_path / "x.png", pred, gt, ["a", "b", "c"])


def test_metrics_table_has_every_number_and_no_note(tmp_path):
    from talkhead.eval.metrics import write_metrics, write_metrics_table
    from talkhead.stages.metrics_table import main

    write_metrics(tmp_path / "a.json", {"val_l1": 0.25, "clips": 2, "split": "val", "done": True,
                                        "model": {"val_l1_all": 0.125}, "absent": {"fvd_i3d": "i3d_path is not set"}})
    write_metrics(tmp_path / "b.json", {"psnr": 23.5})
    out = tmp_path / "eval" / "metrics.tsv"
    assert write_metrics_table(out, {"eval/x": tmp_path / "a.json", "models/y": tmp_path / "b.json"}) == 4
    assert out.read_text().splitlines() == ["source\tmetric\tvalue", "eval/x\tclips\t2",
                                            "eval/x\tmodel.val_l1_all\t0.125", "eval/x\tval_l1\t0.25",
                                            "models/y\tpsnr\t23.5"]
    assert main(["--out", str(out), f"models/y={tmp_path / 'b.json'}"]) == 0
    assert out.read_text().splitlines()[1:] == ["models/y\tpsnr\t23.5"]
    assert main(["--out", str(out), str(tmp_path / "b.json")]) == 2  # not SOURCE=PATH: a clear error, exit 2

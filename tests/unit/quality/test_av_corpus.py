"""The corpus-level A/V pass: a model fitted on other speakers finds a shifted clip; the gate rejects it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import soundfile as sf

from talkhead.config import AvCorpusConfig, QualityConfig
from talkhead.quality.av_corpus import (CorpusSettings, clip_features, cross_fit, fit_sync_model, measure_clip,
                                        speaker_folds)
from talkhead.quality.av_corpus_pass import run_av_corpus
from talkhead.quality.av_offset import OffsetSettings
from talkhead.quality.tables import measures_table

MIX = np.random.default_rng(99).normal(size=20)  # one mouth-sound relation shared by every speaker


def test_speaker_folds_are_stable_and_disjoint():
    folds = speaker_folds(["b", "a", "c", "a", "d"], 2)
    assert folds == {"a": 0, "b": 1, "c": 0, "d": 1}


def test_cross_fitted_model_measures_each_clip_with_the_documented_sign(synthetic_clip):
    cs = CorpusSettings()
    delays = {f"s{k}_c{j}": (8 if (k, j) == (2, 1) else 0) for k in range(6) for j in range(2)}
    features = {c: clip_features(*synthetic_clip(250, d, seed=10 + i, mix=MIX), cs)
                for i, (c, d) in enumerate(delays.items())}
    results = cross_fit(features, {c: c.split("_")[0] for c in delays}, 3, OffsetSettings(), cs)
    got = {c: (o.status, o.frames) for c, (_, o) in results.items()}
    assert got == {c: ("measured", d) for c, d in delays.items()}


def test_a_weakly_coupled_clip_far_out_of_sync_is_out_of_sync_not_measured(synthetic_clip):
    """Noisy coupling: the value is not vouched for (uncertain to measure), but 9 frames late is plainly out of sync."""
    cs = CorpusSettings()
    model = fit_sync_model([clip_features(*synthetic_clip(250, 0, seed=100 + i, mix=MIX, noise=1.0), cs)
                            for i in range(8)], cs)
    for seed in range(3):
        late = measure_clip(model, *clip_features(*synthetic_clip(125, 9, seed=seed, mix=MIX, noise=2.0), cs),
                            OffsetSettings(), cs)
        in_sync = measure_clip(model, *clip_features(*synthetic_clip(125, 0, seed=seed, mix=MIX, noise=2.0), cs),
                               OffsetSettings(), cs)
        assert late.status == "out_of_sync" and abs(late.frames - 9) <= 1, late
        assert in_sync.status != "out_of_sync" and abs(in_sync.frames) <= 1, in_sync


def _write_clip(root, clip, points, samples, first_status, first_offset):
    (root / "quality" / clip).mkdir(parents=True)
    (root / "crop" / clip).mkdir(parents=True)
    (root / "normalize" / clip).mkdir(parents=True)
    np.savez(root / "crop" / clip / "landmarks.npz", points=points.astype(np.float16))
    sf.write(root / "normalize" / clip / "audio.wav", samples, 16000, subtype="PCM_16")
    measures = {"fps": 25, "frames": len(points), "av_method": "mesh", "av_status": first_status,
                "av_offset_frames": first_offset}
    (root / "quality" / clip / "quality.json").write_text(json.dumps(
        {"clip": clip, "verdict": "accept", "reasons": [], "measures": measures}))


def test_stage_flags_a_clip_the_first_pass_left_unshifted_and_the_gate_rejects_it(tmp_path, synthetic_clip):
    clips = []
    for k in range(5):
        for j in range(2):
            clip = f"s{k}_c{j}"
            delay = 9 if clip == "s3_c0" else 0
            points, samples = synthetic_clip(250, delay, seed=40 + 2 * k + j, samples=True)
            _write_clip(tmp_path, clip, points, samples, "uncertain", None)
            clips.append(clip)
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("clip_id,source,start,end,speaker,split\n" +
                        "".join(f"{c},{c}.mp4,0,,{c.split('_')[0]},train\n" for c in clips))
    cfg = AvCorpusConfig.from_dict({"enabled": True, "folds": 5})
    summary = run_av_corpus([tmp_path / "quality" / c for c in clips], tmp_path / "crop", tmp_path / "normalize",
                            tmp_path / "av_corpus", cfg, QualityConfig.from_dict({}), manifest)
    assert summary["ran"] and summary["flagged"] == 1, summary
    table = pd.read_csv(tmp_path / "av_corpus" / "offsets.csv")
    flagged = table[table.flag]
    assert flagged["clip"].tolist() == ["s3_c0"] and flagged["av_offset_corpus"].tolist() == [9]
    gate = measures_table([tmp_path / "quality" / c for c in clips], manifest, tmp_path / "av_corpus" / "offsets.csv")
    assert gate.loc[gate.verdict == "reject", "clip"].tolist() == ["s3_c0"]
    assert gate.set_index("clip").loc["s3_c0", "reasons"] == "av_offset"


def test_auto_skips_a_small_corpus_with_the_reason(tmp_path, synthetic_clip):
    clips = [f"s{k}" for k in range(3)]
    for i, clip in enumerate(clips):
        _write_clip(tmp_path, clip, *synthetic_clip(100, 0, seed=i, samples=True), "uncertain", None)
    summary = run_av_corpus([tmp_path / "quality" / c for c in clips], tmp_path / "crop", tmp_path / "normalize",
                            tmp_path / "out", AvCorpusConfig.from_dict({}), QualityConfig.from_dict({}))
    assert not summary["ran"] and "corpus too small" in summary["reason"]
    assert pd.read_csv(tmp_path / "out" / "offsets.csv").empty

"""Sync-C / Sync-D parity with syncnet_python (benchmarks/parity/syncnet.py made the fixture).

The reference ran its own `SyncNetInstance.evaluate` (calc_pdist over ±15 frames, min / median of the
mean distance curve) with `SyncNetModel.S` under seeded random weights; talkhead rebuilds the same
weights in `SyncNetOfficial` (tests/parity/seeded.py) and scores the same face crops and audio
(tests/parity/compare.py, which benchmarks/parity_report.py measures for docs/evaluation.md).
"""

from __future__ import annotations

from tests.parity.compare import syncnet_offset_sign, syncnet_pipeline


def test_syncnet_pipeline_parity():
    """The state-dict names and shapes, the per-window distance table, the curve, Sync-D, Sync-C, the number of
    windows and the offset (syncnet_python prints vshift − argmin; talkhead's + = audio late)."""
    assert syncnet_pipeline().failures() == []


def test_syncnet_offset_sign_parity():
    """syncnet_python's evaluate() on chosen embeddings (audio late by 3 frames): an interior minimum."""
    assert syncnet_offset_sign().failures() == []

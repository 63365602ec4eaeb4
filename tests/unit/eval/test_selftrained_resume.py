"""The self-trained SyncNet on the shared harness: a run killed mid-training and started again ends with the bytes of
an uninterrupted run (weights, AdamW, the one-cycle schedule and every step's loss resume)."""

from __future__ import annotations

import pytest
from test_sync import _packed_dataset

import talkhead.train.syncnet as syncnet

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CFG = {"steps": 30, "batch": 3, "window": 20, "max_shift": 3, "hidden": 16, "dim": 16, "check_shift": 4}
FILES = ("model.safetensors", "config.json", "loss.csv", "metrics.json", "last.safetensors", "state.safetensors")


def test_a_killed_run_resumes_to_the_uninterrupted_files(tmp_path, monkeypatch):
    metadata, _ = _packed_dataset(tmp_path)
    monkeypatch.setattr(syncnet, "STEPS_PER_BLOCK", 10)
    syncnet.train_selftrained_syncnet(metadata, tmp_path / "whole", CFG)

    real_loss, calls = syncnet._loss, []

    def dies_at_step_15(*args):  # after the checkpoint of steps 0-9, in the middle of the second block
        calls.append(1)
        if len(calls) == 16:
            raise KeyboardInterrupt("killed")
        return real_loss(*args)

    monkeypatch.setattr(syncnet, "_loss", dies_at_step_15)
    with pytest.raises(KeyboardInterrupt):
        syncnet.train_selftrained_syncnet(metadata, tmp_path / "resumed", CFG)
    monkeypatch.setattr(syncnet, "_loss", real_loss)
    syncnet.train_selftrained_syncnet(metadata, tmp_path / "resumed", CFG)
    for name in FILES:
        assert (tmp_path / "resumed" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name

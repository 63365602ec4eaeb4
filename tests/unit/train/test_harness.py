"""The shared epoch loop on a toy model: an interrupted run resumed ends with the uninterrupted run's files."""

import json

import torch

from talkhead.train.harness import (EpochResult, epoch_draws, fresh_state, optimizer_step, run_epochs,
                                    run_fingerprint, seeded_run)
from talkhead.train.run_files import resume_run


def _train(out_dir, epochs):
    with seeded_run(3):
        model = torch.nn.Linear(4, 1)
        opt = torch.optim.AdamW(model.parameters(), lr=0.1)
        x, y = torch.randn(16, 4), torch.randn(16, 1)
        fingerprint = {"lr": 0.1}
        state = resume_run(out_dir, fingerprint, model, opt) or fresh_state(fingerprint)

        def run_epoch(epoch):
            total = 0.0
            for picks, g in epoch_draws([3], epoch, 2, 4, 16):
                rows = torch.tensor([i for i, _ in picks])
                noise = 0.01 * torch.randn(len(rows), 1, generator=g)
                total += optimizer_step(opt, ((model(x[rows]) - y[rows] - noise) ** 2).mean())
            val = float(((model(x) - y) ** 2).mean())
            return EpochResult({"train_loss": total / 2, "val": val}, val, f"val {val:.4f}")

        def write_metrics(st):
            (out_dir / "metrics.json").write_text(json.dumps(st["history"][-1], sort_keys=True))

        return run_epochs(out_dir, state, epochs, "toy", run_epoch, lambda: (model, opt), write_metrics)


def test_resumed_run_ends_with_the_uninterrupted_files(tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    whole.mkdir(), parts.mkdir()
    state, first = _train(whole, 4)
    assert first == 0 and len(state["history"]) == 4 and state["best_epoch"] is not None
    _, first = _train(parts, 2)
    (parts / "best.safetensors").unlink()  # a workflow manager deleted the declared outputs of a failed job
    state_b, first = _train(parts, 4)
    assert first == 2 and state_b["history"] == state["history"]
    for name in ("best.safetensors", "last.safetensors", "state.safetensors", "state.json", "metrics.json"):
        assert (whole / name).read_bytes() == (parts / name).read_bytes(), name


def test_draws_depend_on_seed_and_epoch_only():
    a = [p for p, _ in epoch_draws([1, 2], 5, 3, 4, 10)]
    b = [p for p, _ in epoch_draws([1, 2], 5, 3, 4, 10)]
    assert a == b and a != [p for p, _ in epoch_draws([1, 2], 6, 3, 4, 10)]
    assert all(g is None for _, g in epoch_draws([1], 0, 2, 2, 3, generators=False))


def test_fingerprint_ignores_only_the_named_keys():
    from dataclasses import dataclass

    @dataclass
    class Cfg:
        lr: float = 0.1
        epochs: int = 3

    assert run_fingerprint(Cfg(), data="abc") == {"lr": 0.1, "data": "abc"}
    assert run_fingerprint(Cfg(), ()) == {"lr": 0.1, "epochs": 3}

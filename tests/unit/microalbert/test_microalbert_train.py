"""Distillation: the losses, learning a synthetic teacher, exact resume, the stage's errors."""

import json

import numpy as np
import pytest
import torch

from talkhead.config import MicroalbertConfig
from talkhead.stages import train_microalbert as stage
from talkhead.train.microalbert import distillation_loss, train

CFG = {"size": "tiny", "vocab_size": 200, "epochs": 3, "batch_size": 16, "lr": 0.005, "dropout": 0.0}
OUTPUTS = ("best.safetensors", "last.safetensors", "metrics.csv", "metrics.json", "tokenizer.json", "config.json")


def test_losses_vanish_when_the_student_matches_and_hard_labels_threshold():
    target = torch.tensor([[0.1, 0.5, 0.9], [0.7, 0.3, 0.6]])
    logits = torch.logit(target)
    for extra in ({"loss": "mse"}, {"loss": "kl", "temperature": 2.0}):
        cfg = MicroalbertConfig.from_dict(extra)
        assert distillation_loss(logits, target, cfg).item() == pytest.approx(0.0, abs=1e-6)
        assert distillation_loss(logits + 1.0, target, cfg).item() > 1e-3
    hard = MicroalbertConfig.from_dict({"soft_labels": False})
    expected = torch.nn.functional.mse_loss(torch.sigmoid(logits), (target > 0.5).float())
    assert distillation_loss(logits, target, hard).item() == pytest.approx(expected.item())


def test_student_learns_a_synthetic_teacher_and_resumes_to_identical_files(tmp_path, one_thread, write_targets,
                                                                           monkeypatch):
    targets = write_targets(tmp_path / "t" / "targets.csv")
    cfg = MicroalbertConfig.from_dict(CFG)
    full = train(targets, cfg, tmp_path / "full")
    rows = (tmp_path / "full" / "metrics.csv").read_text().splitlines()[1:]
    assert len(rows) == 3 and full["parameters"] < 50_000
    metrics = json.loads((tmp_path / "full" / "metrics.json").read_text())
    assert metrics["teacher"] == "synthetic" and metrics["best"]["val_r_valence"] > 0.5  # 'good' → valence is learned
    from talkhead.train import microalbert as trainer

    predict, calls = trainer.predict, []

    def killed_in_epoch_3(*args):  # the job dies in epoch 3 (its validation)
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return predict(*args)

    monkeypatch.setattr(trainer, "predict", killed_in_epoch_3)
    with pytest.raises(KeyboardInterrupt):
        train(targets, cfg, tmp_path / "cut")
    monkeypatch.setattr(trainer, "predict", predict)
    (tmp_path / "cut" / "best.safetensors").unlink(missing_ok=True)  # as Snakemake deletes a failed job's outputs
    assert train(targets, cfg, tmp_path / "cut")["resumed_after"] == 2
    for name in OUTPUTS:
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name
    other = train(targets, MicroalbertConfig.from_dict({**CFG, "epochs": 4}), tmp_path / "cut")
    assert other["resumed_after"] == 0  # another schedule (4 epochs) is another run: started afresh


def test_stage_reports_bad_config_and_missing_inputs_as_exit_2(tmp_path, write_targets):
    targets = write_targets(tmp_path / "t" / "targets.csv", n=60)
    args = ["--step", "train", "--targets", str(targets), "--out", str(tmp_path / "m")]
    assert stage.main([*args, "--cfg", json.dumps({"size": "huge"})]) == 2
    assert stage.main(["--step", "train", "--out", str(tmp_path / "m")]) == 2  # no --targets
    bad = tmp_path / "bad.csv"
    bad.write_text("text,split\nhello,train\n", encoding="utf-8")
    assert stage.main(["--step", "train", "--targets", str(bad), "--out", str(tmp_path / "m")]) == 2
    assert stage.main([*args, "--cfg", json.dumps({**CFG, "epochs": 1})]) == 0
    assert np.isfinite(json.loads((tmp_path / "m" / "metrics.json").read_text())["train_loss"])

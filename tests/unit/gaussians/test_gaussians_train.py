"""Training on a synthetic speaker: held-out PSNR rises, an interrupted run resumes to identical files, the head
renders new speech into an mp4 with audio, and the stage merges speakers' metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

import talkhead.gaussians.train as gtrain
from talkhead.config import GaussiansConfig
from talkhead.gaussians.data import ClipData
from talkhead.gaussians.deform import DeformationField, DeformSpec
from talkhead.gaussians.head import GaussianHead, FrameCond, load_head
from talkhead.gaussians.raster_torch import rasterize
from talkhead.gaussians.scene import GaussianScene

pytestmark = pytest.mark.usefixtures("one_thread")

SIZE, FRAMES = 32, 24
CANON = torch.from_numpy(np.load(Path(gtrain.__file__).parents[1] / "features" / "canonical_face.npy")).float()
CFG = dict(size=SIZE, holdout=0.25, coarse_iterations=16, fine_iterations=14, shell=40, densify_from=4,
           densify_until=16, densify_every=6, densify_grad=1e-6, max_gaussians=700, eval_every=10, eval_frames=4,
           checkpoint_every=10, plane_res=8, plane_dim=4, dim=16, audio_context=1, lmd=False)


def synthetic_clip() -> ClipData:
    """A 'speaker' rendered from known Gaussians on the canonical face, turning its head, over a gradient backdrop."""
    g = torch.Generator().manual_seed(0)
    yaw = 0.15 * torch.sin(torch.arange(FRAMES) / 3.0)
    R = torch.zeros(FRAMES, 3, 3)
    R[:, 0, 0], R[:, 0, 2], R[:, 1, 1], R[:, 2, 0], R[:, 2, 2] = yaw.cos(), yaw.sin(), 1, -yaw.sin(), yaw.cos()
    t, s = torch.tensor([16.0, 11.0, 0.0]).repeat(FRAMES, 1), torch.full((FRAMES,), 11.0)
    colors = (CANON - CANON.min(0).values) / (CANON.max(0).values - CANON.min(0).values)
    truth = GaussianScene.from_mesh(CANON, colors, shell=0)
    with torch.no_grad():
        truth.log_scales += math.log(1.5)
    backdrop = torch.linspace(0.1, 0.9, SIZE)[:, None, None].expand(SIZE, SIZE, 3) * torch.tensor([0.3, 0.6, 0.9])
    head = GaussianHead(truth, DeformationField(DeformSpec(), -torch.ones(3), torch.ones(3)), backdrop, SIZE)
    frames = []
    with torch.no_grad():
        for k in range(FRAMES):
            cond = FrameCond(torch.zeros(20, 80), torch.zeros(21), R[k], t[k], s[k])
            frames.append((head.render(cond, rasterize, deform=False) * 255).round().byte())
    mesh = s[:, None, None] * CANON @ R.transpose(1, 2) + t[:, None]
    return ClipData("synthetic", torch.stack(frames), torch.randn(4 * FRAMES, 80, generator=g),
                    torch.rand(FRAMES, 21, generator=g), R, t, s, mesh, SIZE, FRAMES - 6)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("gaussians") / "synthetic"
    metrics = gtrain.train_speaker([synthetic_clip()], GaussiansConfig.from_dict(CFG), out, "spk", "digest")
    return out, metrics


def test_heldout_psnr_rises_well_above_the_initialisation(trained):
    out, m = trained
    assert m["psnr"] > m["psnr_init"] + 3.0 and m["ssim"] > m["ssim_init"]
    assert m["gaussians"] != len(CANON) + CFG["shell"]  # densification changed the set
    rows = (out / "metrics.csv").read_text().splitlines()
    assert rows[0] == gtrain.CSV_HEADER.strip() and rows[1].startswith("0,init,")
    assert rows[-1].startswith("30,fine,")
    assert json.loads((out / "metrics.json").read_text())["psnr"] == pytest.approx(m["psnr"])


@pytest.mark.parametrize("blocks", [{}, {"checkpoint_every": 7, "eval_every": 5}])
def test_a_killed_run_resumes_to_identical_files(blocks, trained, tmp_path, monkeypatch):
    """Killed at iteration 14 (mid-block with checkpoints every 10; gradients of 12..13 accumulated for the next
    densification), rerun → the uninterrupted run's files; with checkpoints off the evaluation grid (every 7) the
    losses since the last held-out row carry over."""
    cfg = GaussiansConfig.from_dict({**CFG, **blocks})
    ref_dir = trained[0] if not blocks else tmp_path / "whole"
    if blocks:
        gtrain.train_speaker([synthetic_clip()], cfg, ref_dir, "spk", "digest")
    out, real, calls = tmp_path / "run", gtrain.image_loss, []

    def dies_at_iteration_14(*args):
        calls.append(1)
        if len(calls) == 15:
            raise KeyboardInterrupt("killed")
        return real(*args)

    monkeypatch.setattr(gtrain, "image_loss", dies_at_iteration_14)
    with pytest.raises(KeyboardInterrupt):
        gtrain.train_speaker([synthetic_clip()], cfg, out, "spk", "digest")
    state = json.loads((out / "state.json").read_text())
    assert state["iteration"] == 10 if not blocks else (state["iteration"] == 14 - 14 % 7 and state["losses"])
    monkeypatch.setattr(gtrain, "image_loss", real)
    gtrain.train_speaker([synthetic_clip()], cfg, out, "spk", "digest")
    for name in ("head.safetensors", "metrics.csv", "metrics.json", "last.safetensors", "state.json"):
        assert (out / name).read_bytes() == (ref_dir / name).read_bytes(), name
    assert not (out / "best.safetensors").exists()  # the head is the last iteration's; the harness keeps no best


def test_the_head_speaks_new_audio_into_an_mp4(trained, tmp_path):
    from talkhead.gaussians.render import generate, ping_pong
    from talkhead.media.probe import probe

    model_dir, _ = trained
    head, meta = load_head(model_dir)
    assert head.size == SIZE and meta["speaker"] == "spk"
    rate = 16000
    samples = (0.2 * np.sin(2 * np.pi * 220 * np.arange(int(1.2 * rate)) / rate)).astype(np.float32)
    s = generate(model_dir, samples, rate, tmp_path / "talk.mp4")
    info = probe(tmp_path / "talk.mp4")
    assert s["frames"] == 30 and info["video"]["frames"] == 30 and info["video"]["width"] == SIZE
    assert info["audio"] is not None and info["audio"]["duration_s"] == pytest.approx(1.2, abs=0.06)
    assert ping_pong(3, 7).tolist() == [0, 1, 2, 1, 0, 1, 2]


def test_stage_merges_speakers_metrics(trained, tmp_path):
    from talkhead.stages.train_gaussians import main

    model_dir, m = trained
    other = tmp_path / "spk2"  # a second speaker: the same metrics, 2 dB better, no LMD
    other.mkdir()
    (other / "metrics.json").write_text(json.dumps({**{k: v for k, v in m.items() if not k.startswith("lmd")},
                                                    "speaker": "spk2", "psnr": m["psnr"] + 2.0}))
    (other / "metrics.csv").write_text((model_dir / "metrics.csv").read_text())
    out = tmp_path / "merged"
    assert main(["--summarize", str(model_dir / "metrics.json"), str(other / "metrics.json"), "--out", str(out)]) == 0
    merged = json.loads((out / "metrics.json").read_text())
    assert merged["speakers"]["spk"]["psnr"] == pytest.approx(m["psnr"]) and merged["speaker_count"] == 2
    assert merged["mean"]["psnr"] == pytest.approx(m["psnr"] + 1.0, abs=1e-6)  # the same keys whatever the speakers
    if "lmd_mediapipe" in m:  # averaged over the speakers that report it
        assert merged["mean"]["lmd_mediapipe"] == pytest.approx(m["lmd_mediapipe"], abs=1e-6)
    lines = (out / "metrics.csv").read_text().splitlines()
    assert lines[0].startswith("speaker,iteration,stage") and lines[1].startswith("spk,0,init")
    assert any(line.startswith("spk2,0,init") for line in lines)


def test_cli_generate_routes_gaussians_and_needs_an_image_for_motion_dit(trained, tmp_path):
    from talkhead.cli import main
    from talkhead.media.encode import write_wav
    from talkhead.media.probe import probe

    model_dir, _ = trained
    wav = tmp_path / "speech.wav"
    write_wav(wav, (0.1 * np.sin(np.arange(8000) / 9.0)).astype(np.float32), 16000)
    out = tmp_path / "cli.mp4"
    assert main(["generate", "--model-kind", "gaussians", "--model", str(model_dir), "--audio", str(wav),
                 "--out", str(out)]) == 0
    assert probe(out)["video"]["frames"] == 12 and probe(out)["audio"] is not None
    assert main(["generate", "--audio", str(wav), "--out", str(tmp_path / "x.mp4")]) != 0  # motion_dit: no --image
    assert main(["generate", "--model-kind", "gaussians", "--audio", str(wav), "--out", str(tmp_path / "y.mp4")]) != 0
    assert main(["generate", "--model-kind", "gaussians", "--model", str(tmp_path), "--audio", str(wav),
                 "--out", str(tmp_path / "z.mp4")]) == 1  # not a trained folder

"""Parity fixture for Sync-C / Sync-D: run syncnet_python's own `SyncNetInstance.evaluate` on seeded weights.

Run OUTSIDE the project, against a checkout of https://github.com/joonson/syncnet_python (not vendored):

    git -C <mirror> archive HEAD | tar -x -C /tmp/syncnet_ref
    OMP_NUM_THREADS=1 python benchmarks/parity/syncnet.py --reference /tmp/syncnet_ref \
        --commit $(git -C <mirror> rev-parse HEAD)

(a Python with torch, numpy, scipy, cv2 and python_speech_features; the fixture was made with
syncnet_python 6efbb1c305c23f47a62b09cf4215a8ac45e97d49, torch 2.13.0 CPU, python_speech_features 0.6).

It builds syncnet_python's `SyncNetModel.S` with seeded random weights (tests/parity/seeded.py: a value
per (seed, key, shape), so talkhead's `SyncNetOfficial` rebuilds the same weights without storing them),
makes small RGB face crops and int16 16 kHz audio, and runs the reference's `evaluate` method unchanged.
Only its I/O is replaced: the two ffmpeg calls (frame extraction, audio extraction) become writes of the
given frames / wav, `cv2.imread` returns the given frame, and `.cuda()` is the identity (CPU). The crops
enter the reference as run_pipeline.py's `crop_video` writes them: BGR, `cv2.resize` to 224² (bilinear).
The fixture keeps the inputs (48² RGB crops, int16 audio) and the reference's outputs: the per-window
distance table `dists` (N, 31), its mean curve, offset (syncnet_python's sign) and confidence; and a
second run of `evaluate` whose two forward passes return chosen embeddings (audio late by 3 frames), for
an interior minimum and the offset's sign (`syn_*`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

HERE = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(HERE))  # tests.parity: the seeded weights both sides share

from tests.parity.seeded import fill_seeded  # noqa: E402

OUT = HERE / "tests" / "fixtures" / "parity" / "syncnet.npz"
SEED, FRAMES, SIZE, VSHIFT, BATCH, SHIFT = 20, 22, 48, 15, 20, 3


def inputs(seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(frames (T, 48, 48, 3) uint8 RGB, samples (T·640,) int16): smooth moving blobs and burst-modulated noise."""
    import cv2

    rng = np.random.default_rng(seed)
    base = rng.uniform(0, 255, (FRAMES, 6, 6, 3))
    base = np.cumsum(base - 127.5, axis=0) * 0.3 + 127.5  # slowly changing content
    frames = np.stack([cv2.resize(b, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC) for b in base])
    frames = np.clip(frames + rng.normal(0, 6, frames.shape), 0, 255).astype(np.uint8)
    n = FRAMES * 640
    t = np.arange(n) / 16000
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3.1 * t) ** 2
    voiced = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) / k for k, f in enumerate((140, 280, 420, 700, 1900), 1))
    audio = envelope * (3000 * voiced + 800 * rng.standard_normal(n))
    return frames, np.clip(audio, -32768, 32767).astype(np.int16)


def _synthetic_offset(instance, n: int, opt_for) -> dict:
    """evaluate() again with the two forward passes returning chosen embeddings: audio late by SHIFT frames.

    Random weights put the minimum at an edge (zero-padded audio is nearest); here the audio embedding of
    window j is the video embedding of window j − SHIFT plus noise, so the curve has an interior minimum
    and the offset's sign is tested (talkhead: +SHIFT, audio late; syncnet_python prints −SHIFT).
    """
    rng = np.random.default_rng(SEED + 1)
    video = rng.standard_normal((n, 16)).astype(np.float32)
    audio = rng.standard_normal((n, 16)).astype(np.float32)
    audio[SHIFT:] = video[:-SHIFT] + 0.3 * rng.standard_normal((n - SHIFT, 16)).astype(np.float32)
    served = {"lip": 0, "aud": 0}

    def serve(kind: str, table: np.ndarray):
        def forward(x: torch.Tensor) -> torch.Tensor:
            i = served[kind]
            served[kind] += len(x)
            return torch.from_numpy(table[i:i + len(x)])
        return forward

    instance.__S__.forward_lip, instance.__S__.forward_aud = serve("lip", video), serve("aud", audio)
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        offset, conf, dists = instance.evaluate(opt_for(tmp), os.path.join(tmp, "unused.avi"))
    mdist = torch.mean(torch.stack([torch.from_numpy(d) for d in dists], 1), 1)
    assert served == {"lip": n, "aud": n}
    return {"syn_video": video, "syn_audio": audio, "syn_shift": SHIFT, "syn_mdist": mdist.numpy(),
            "syn_offset": int(offset), "syn_conf": float(conf), "syn_minval": float(torch.min(mdist))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="a syncnet_python checkout (SyncNetInstance.py)")
    parser.add_argument("--commit", default="", help="the checkout's commit, when it has no .git (git archive)")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    ref = Path(args.reference).resolve()
    sys.path.insert(0, str(ref))
    import cv2
    import python_speech_features
    from scipy.io import wavfile

    torch.nn.Module.cuda = lambda self, *a, **k: self  # CPU run: .cuda() is the identity
    torch.Tensor.cuda = lambda self, *a, **k: self
    import SyncNetInstance as sni  # the reference, unchanged

    frames, samples = inputs()
    crops = [cv2.resize(f[:, :, ::-1], (224, 224)) for f in frames]  # run_pipeline.crop_video: BGR, resized to 224²

    def fake_call(command: str, shell: bool = True, stdout=None) -> int:  # the two ffmpeg calls of evaluate()
        out = command.split()[-1]
        if out.endswith("%06d.jpg"):
            for i in range(len(crops)):
                Path(out.replace("%06d", f"{i + 1:06d}")).touch()
        elif out.endswith("audio.wav"):
            wavfile.write(out, 16000, samples)
        else:
            raise RuntimeError(f"unexpected command {command}")
        return 0

    sni.subprocess = SimpleNamespace(call=fake_call)
    sni.cv2 = SimpleNamespace(imread=lambda name: crops[int(Path(name).stem) - 1].copy())
    instance = sni.SyncNetInstance()
    fill_seeded(instance.__S__, SEED)
    keys = hashlib.sha256("".join(f"{k}{tuple(v.shape)}" for k, v in sorted(instance.__S__.state_dict().items()))
                          .encode()).hexdigest()
    with tempfile.TemporaryDirectory() as tmp:
        opt = SimpleNamespace(tmp_dir=tmp, reference="parity", batch_size=BATCH, vshift=VSHIFT)
        log = io.StringIO()
        with contextlib.redirect_stdout(log), torch.no_grad():
            offset, conf, dists = instance.evaluate(opt, os.path.join(tmp, "unused.avi"))
    mdist = torch.mean(torch.stack([torch.from_numpy(d) for d in dists], 1), 1)  # as evaluate() does
    minval = float(torch.min(mdist))
    syn = _synthetic_offset(instance, len(dists), opt_for=lambda tmp: SimpleNamespace(
        tmp_dir=tmp, reference="offset", batch_size=BATCH, vshift=VSHIFT))
    commit = args.commit or subprocess.run(["git", "-C", str(ref), "rev-parse", "HEAD"], capture_output=True,
                                           text=True).stdout.strip()
    np.savez_compressed(
        args.out, frames=frames, samples=samples, seed=SEED, vshift=VSHIFT, batch_size=BATCH,
        dists=np.asarray(dists, np.float32), mdist=mdist.numpy(), offset=int(offset), conf=float(conf),
        minval=minval, state_keys_sha256=keys,
        reference="joonson/syncnet_python@" + (commit or "unknown (archive without .git)"),
        **syn, mfcc=np.stack(list(zip(*python_speech_features.mfcc(samples, 16000)))).astype(np.float32),
        log=log.getvalue())
    print(log.getvalue())
    print(f"wrote {args.out} ({Path(args.out).stat().st_size} bytes): offset {int(offset)}, conf {float(conf):.4f}, "
          f"min dist {minval:.4f}")


if __name__ == "__main__":
    main()

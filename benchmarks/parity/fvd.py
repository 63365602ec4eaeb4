"""Parity fixtures for FVD: StyleGAN-V's own `compute_fvd` with a small TorchScript network standing in for I3D.

Run OUTSIDE the project, against a checkout of https://github.com/universome/stylegan-v (not vendored):

    git -C <mirror> archive HEAD src | tar -x -C /tmp/styleganv_ref
    OMP_NUM_THREADS=1 python benchmarks/parity/fvd.py --reference /tmp/styleganv_ref \
        --commit $(git -C <mirror> rev-parse HEAD)

(the fixtures were made with stylegan-v 3fecd69c602e1cda204357201461c0fb0a634909, torch 2.13.0 CPU).

The stand-in (`I3DStandIn`, seeded weights from tests/parity/seeded.py, saved as TorchScript in
tests/fixtures/parity/fvd_i3d_standin.pt) has the keyword interface of StyleGAN-V's
`i3d_torchscript.pt` (`rescale`, `resize`, `return_features`): uint8 clips at their own size go in, the
network rescales them to [−1, 1] and resizes them to 224² itself, and `return_features=True` returns
the pooled features. StyleGAN-V's `metric_utils.compute_feature_stats_for_dataset` and
`frechet_video_distance.compute_fvd` run unchanged on CPU; only `get_feature_detector` (a download) is
replaced by loading the stand-in, and the datasets are small in-memory clip lists:

- `styleganv`: every non-overlapping 16-frame window of 32-frame videos (an item per window), as
  `fvd2048_16f` (num_frames=16) sees 16-frame clips;
- `latentsync`: LatentSync's variant as the issue states it (face crops, frames 20–36): one item per
  40-frame video, frames [20:36]. LatentSync's own script was not available here; its FVD uses the
  same StyleGAN-V I3D, so the statistics are StyleGAN-V's.

The videos are drawn from a seeded generator (`videos`), which the tests re-run; the fixture records
their sha256, the reference's mean / covariance of both sets and its FVD.
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(HERE))  # tests.parity: the seeded weights both sides share

from tests.parity.seeded import fill_seeded  # noqa: E402

FIXTURES = HERE / "tests" / "fixtures" / "parity"
NET = FIXTURES / "fvd_i3d_standin.pt"
SEED = 31
CASES = {"styleganv": (32, 12), "latentsync": (40, 20)}  # protocol -> (frames per video, videos per side)


class I3DStandIn(nn.Module):
    """A tiny 3D CNN with the call signature of StyleGAN-V's i3d_torchscript.pt."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(3, 8, (3, 7, 7), stride=(2, 4, 4), padding=(1, 3, 3))
        self.conv2 = nn.Conv3d(8, 12, 3, stride=2, padding=1)
        self.logits = nn.Linear(12, 10)

    def forward(self, x: torch.Tensor, rescale: bool = False, resize: bool = False,
                return_features: bool = False) -> torch.Tensor:
        x = x.float()
        if rescale:
            x = x / 127.5 - 1.0
        if resize:
            x = F.interpolate(x, size=(x.shape[2], 224, 224), mode="trilinear", align_corners=False)
        h = F.relu(self.conv2(F.relu(self.conv1(x))))
        features = h.mean(dim=(2, 3, 4))
        return features if return_features else self.logits(features)


def videos(protocol: str, side: str, seed: int = SEED) -> list[np.ndarray]:
    """(T, 32, 32, 3) uint8 videos: drifting smooth colour fields; `fake` is brighter and noisier than `real`."""
    import cv2

    frames, count = CASES[protocol]
    rng = np.random.default_rng([seed, list(CASES).index(protocol), side == "fake"])
    out = []
    for _ in range(count):
        base = np.cumsum(rng.normal(0, 18, (frames, 4, 4, 3)), axis=0) + rng.uniform(60, 190, (1, 1, 1, 3))
        video = np.stack([cv2.resize(b, (32, 32), interpolation=cv2.INTER_CUBIC) for b in base])
        if side == "fake":
            video = video * 1.1 + 12 + rng.normal(0, 10, video.shape)
        out.append(np.clip(video, 0, 255).astype(np.uint8))
    return out


def videos_sha256(vs: list[np.ndarray]) -> str:
    digest = hashlib.sha256()
    for v in vs:
        digest.update(np.ascontiguousarray(v).tobytes())
    return digest.hexdigest()


def _items(protocol: str, vs: list[np.ndarray]) -> list[np.ndarray]:
    """Dataset items (16, 3, H, W) uint8: what StyleGAN-V's video dataset yields under each protocol."""
    if protocol == "styleganv":
        clips = [v[i:i + 16] for v in vs for i in range(0, len(v) - 15, 16)]
    else:
        clips = [v[20:36] for v in vs if len(v) >= 36]
    return [np.ascontiguousarray(c.transpose(0, 3, 1, 2)) for c in clips]


class ClipDataset(torch.utils.data.Dataset):
    """A video dataset for StyleGAN-V's metric loop: item i = {'image': (t, c, h, w) uint8}."""

    registry: dict[str, list[np.ndarray]] = {}

    def __init__(self, key: str, resolution: int = 256, **_ignored) -> None:
        self.items, self.name, self.resolution = self.registry[key], key, resolution

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return {"image": torch.from_numpy(self.items[i]), "label": np.zeros([0], np.float32)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", required=True, help="a stylegan-v checkout (src/metrics/)")
    parser.add_argument("--commit", default="", help="the checkout's commit, when it has no .git (git archive)")
    args = parser.parse_args()
    ref = Path(args.reference).resolve()
    sys.path.insert(0, str(ref))
    from src import dnnlib
    from src.metrics import frechet_video_distance, metric_utils

    net = fill_seeded(I3DStandIn(), SEED)
    torch.jit.script(net).save(str(NET))
    metric_utils.get_feature_detector = lambda url, **kw: torch.jit.load(str(NET)).eval()  # instead of a download
    stats = []
    original = metric_utils.FeatureStats.get_mean_cov
    metric_utils.FeatureStats.get_mean_cov = lambda self: stats.append(original(self)) or stats[-1]
    commit = args.commit or subprocess.run(["git", "-C", str(ref), "rev-parse", "HEAD"], capture_output=True,
                                           text=True).stdout.strip()
    for protocol in CASES:
        real, fake = videos(protocol, "real"), videos(protocol, "fake")
        ClipDataset.registry = {"real": _items(protocol, real), "fake": _items(protocol, fake)}
        kwargs = dict(class_name=f"{__name__}.ClipDataset", resolution=256)
        opts = metric_utils.MetricOptions(dataset_kwargs=dnnlib.EasyDict(kwargs, key="real"),
                                          gen_dataset_kwargs=dnnlib.EasyDict(kwargs, key="fake"),
                                          device=torch.device("cpu"), cache=False, generator_as_dataset=True)
        stats.clear()
        n_real, n_fake = len(ClipDataset.registry["real"]), len(ClipDataset.registry["fake"])
        value = frechet_video_distance.compute_fvd(opts, max_real=n_real, num_gen=n_fake, num_frames=16)
        (mu_real, sigma_real), (mu_fake, sigma_fake) = stats
        out = FIXTURES / f"fvd_{protocol}.npz"
        np.savez_compressed(out, fvd=value, mu_real=mu_real, sigma_real=sigma_real, mu_fake=mu_fake,
                            sigma_fake=sigma_fake, clips_real=n_real, clips_fake=n_fake, seed=SEED,
                            real_sha256=videos_sha256(real), fake_sha256=videos_sha256(fake),
                            net_sha256=hashlib.sha256(NET.read_bytes()).hexdigest(),
                            reference=f"universome/stylegan-v@{commit or 'unknown'}",
                            protocol=protocol)
        print(f"{protocol}: FVD {value:.6f} from {n_real} real / {n_fake} generated clips -> {out} "
              f"({out.stat().st_size} bytes)")
    print(f"stand-in I3D {NET} ({NET.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

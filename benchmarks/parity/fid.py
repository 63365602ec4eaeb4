"""Parity fixture for FID: pytorch-fid's own activation, statistics and Fréchet code with a stand-in Inception.

Run OUTSIDE the project, in a Python where pytorch-fid is installed (https://github.com/mseitzer/pytorch-fid;
the fixture was made with pytorch-fid 0.3.0, torch 2.13.0 CPU, pillow 13.0):

    OMP_NUM_THREADS=1 python benchmarks/parity/fid.py

What runs is pytorch-fid's `fid_score.calculate_activation_statistics` (PNG files read by PIL, ToTensor,
batches through the model, global average pool when the output is not 1×1, np.mean / np.cov) and
`fid_score.calculate_frechet_distance`, unchanged. Two imports are replaced because torchvision does not
load with the CPU torch here: `torchvision.transforms.ToTensor` (by the same uint8 → float / 255, HWC →
CHW conversion) and `pytorch_fid.inception` (its InceptionV3 needs torchvision's Inception blocks; only
its BLOCK_INDEX_BY_DIM table is read at import). The network is a small TorchScript model
(`InceptionStandIn`, seeded weights, saved as tests/fixtures/parity/fid_inception_standin.pt) with the
interface of pytorch-fid's `InceptionV3(resize_input=True, normalize_input=True)`: [0, 1] images in,
bilinear resize to 299² (align_corners=False) and 2x − 1 inside, a list of (N, D, 1, 1) features out.
The images (24² real, 32² generated, uint8) are stored in the fixture with pytorch-fid's mean,
covariance and FID.
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(HERE))  # tests.parity: the seeded weights both sides share

from tests.parity.seeded import fill_seeded  # noqa: E402

FIXTURES = HERE / "tests" / "fixtures" / "parity"
NET = FIXTURES / "fid_inception_standin.pt"
SEED, COUNT, DIMS = 41, 40, 24


class InceptionStandIn(nn.Module):
    """A tiny CNN with the call signature and pre-processing of pytorch-fid's InceptionV3."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 7, stride=4, padding=3)
        self.conv2 = nn.Conv2d(16, DIMS, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        return [F.adaptive_avg_pool2d(x, (1, 1))]


def images(side: str, seed: int = SEED) -> np.ndarray:
    """(40, S, S, 3) uint8: smooth random pictures; generated (32²) are warmer and noisier than real (24²)."""
    import cv2

    rng = np.random.default_rng([seed, side == "fake"])
    size = 24 if side == "real" else 32
    out = []
    for _ in range(COUNT):
        img = cv2.resize(rng.uniform(30, 225, (5, 5, 3)), (size, size), interpolation=cv2.INTER_CUBIC)
        if side == "fake":
            img = img + np.array([18.0, 4.0, -10.0]) + rng.normal(0, 12, img.shape)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(out)


def _shims() -> None:
    """torchvision.transforms.ToTensor and pytorch_fid.inception, which fid_score imports."""
    class ToTensor:
        def __call__(self, pic):
            return torch.from_numpy(np.array(pic)).permute(2, 0, 1).contiguous().float().div(255)

    tv, tvt, inc = (types.ModuleType(n) for n in ("torchvision", "torchvision.transforms", "pytorch_fid.inception"))
    tvt.ToTensor, tv.transforms = ToTensor, tvt
    inc.InceptionV3 = types.SimpleNamespace(BLOCK_INDEX_BY_DIM={64: 0, 192: 1, 768: 2, 2048: 3})
    sys.modules |= {"torchvision": tv, "torchvision.transforms": tvt, "pytorch_fid.inception": inc}


def main() -> None:
    from PIL import Image

    _shims()
    import pytorch_fid
    from pytorch_fid import fid_score

    torch.jit.script(fill_seeded(InceptionStandIn(), SEED)).save(str(NET))
    model = torch.jit.load(str(NET))
    real, fake = images("real"), images("fake")
    stats = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, x in (("real", real), ("fake", fake)):
            files = []
            for i, img in enumerate(x):
                files.append(Path(tmp) / f"{name}_{i:03d}.png")
                Image.fromarray(img).save(files[-1])
            stats[name] = fid_score.calculate_activation_statistics(files, model, batch_size=16, dims=DIMS,
                                                                    device="cpu", num_workers=0)
    value = float(fid_score.calculate_frechet_distance(*stats["real"], *stats["fake"]))
    out = FIXTURES / "fid.npz"
    np.savez_compressed(out, real=real, fake=fake, fid=value, mu_real=stats["real"][0], sigma_real=stats["real"][1],
                        mu_fake=stats["fake"][0], sigma_fake=stats["fake"][1], seed=SEED,
                        net_sha256=hashlib.sha256(NET.read_bytes()).hexdigest(),
                        reference=f"pytorch-fid {pytorch_fid.__version__} (mseitzer/pytorch-fid)")
    print(f"FID {value:.6f} ({COUNT} real / {COUNT} generated) -> {out} ({out.stat().st_size} bytes); "
          f"stand-in {NET} ({NET.stat().st_size} bytes)")


if __name__ == "__main__":
    main()

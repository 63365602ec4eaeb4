"""FID parity with pytorch-fid (benchmarks/parity/fid.py made the fixture).

The reference ran pytorch-fid's activation code (PIL → ToTensor → model → pool), np.mean / np.cov and
`calculate_frechet_distance` with a small TorchScript network shaped like its InceptionV3 (resize to
299² and 2x − 1 inside; seeded weights). talkhead loads the same file as an `inception` network with
input_range `unit`: it resizes to 299² itself (bilinear, align_corners=False, as pytorch-fid's network
does), so the network's own resize is the identity, and fits the statistics with the unbiased covariance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from talkhead.eval.feature_nets import embed, fid_inception, load_feature_net
from talkhead.eval.frechet import feature_stats

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "parity"
RTOL = 1e-4


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def test_fid_parity():
    ref = np.load(FIXTURES / "fid.npz")
    net = load_feature_net(FIXTURES / "fid_inception_standin.pt", "inception", input_range="unit")
    assert net.sha256 == str(ref["net_sha256"])
    real, fake = (torch.from_numpy(ref[k]).permute(0, 3, 1, 2) for k in ("real", "fake"))  # (N, 3, H, W) uint8
    for x, name in ((real, "real"), (fake, "fake")):
        mu, sigma = feature_stats(embed(net, x, 16))
        assert _rel(mu, ref[f"mu_{name}"]) < RTOL and _rel(sigma, ref[f"sigma_{name}"]) < RTOL
    value = fid_inception(real, fake, net, batch_size=16)
    assert abs(value - float(ref["fid"])) / float(ref["fid"]) < RTOL, (value, float(ref["fid"]))

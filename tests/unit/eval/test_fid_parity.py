"""FID parity with pytorch-fid (benchmarks/parity/fid.py made the fixture).

The reference ran pytorch-fid's activation code (PIL → ToTensor → model → pool), np.mean / np.cov and
`calculate_frechet_distance` with a small TorchScript network shaped like its InceptionV3 (resize to
299² and 2x − 1 inside; seeded weights). talkhead loads the same file as an `inception` network with
input_range `unit`: it resizes to 299² itself (bilinear, align_corners=False, as pytorch-fid's network
does), so the network's own resize is the identity, and fits the statistics with the unbiased covariance
(tests/parity/compare.py, which benchmarks/parity_report.py measures for docs/evaluation.md).
"""

from __future__ import annotations

from tests.parity.compare import fid


def test_fid_parity():
    assert fid().failures() == []

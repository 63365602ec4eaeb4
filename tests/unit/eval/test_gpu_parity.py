"""CUDA against CPU for the batched metric networks (opt-in: `pytest -m gpu -k parity`).

The references run their networks in float32 on CUDA (syncnet_python `.cuda()`, StyleGAN-V's I3D
detector, pytorch-fid's InceptionV3): none uses bf16 / fp16, so talkhead runs them in float32 there
too (the model / FeatureNet device). TF32 is switched off for the comparison so that it checks the
pipeline (devices, batching, transfers), not the TF32 rounding of cuDNN convolutions (~1e-3 relative).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkhead.eval.feature_nets import STYLEGANV_I3D_KWARGS, embed, fvd_clips, load_feature_net
from talkhead.eval.sync import score_syncnet
from talkhead.models.syncnet import SyncNetOfficial
from tests.parity.compare import FIXTURES, RTOL, fixture_script, of_largest
from tests.parity.seeded import fill_seeded

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.fixture(autouse=True)
def _no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_syncnet_cuda_matches_cpu_parity():
    ref = np.load(FIXTURES / "syncnet.npz")
    model = fill_seeded(SyncNetOfficial(), int(ref["seed"]))
    cpu = score_syncnet(model, ref["frames"], ref["samples"])
    cuda = score_syncnet(model.cuda(), ref["frames"], ref["samples"])
    assert of_largest(cuda.curve, cpu.curve) < RTOL and of_largest(cuda.curve, ref["mdist"]) < RTOL
    assert cuda.av_offset == cpu.av_offset and abs(cuda.sync_c - cpu.sync_c) < RTOL * cpu.sync_d


def test_feature_nets_cuda_match_cpu_parity():
    clips = torch.cat([fvd_clips(v) for v in fixture_script("fvd").videos("styleganv", "real")])
    fid = np.load(FIXTURES / "fid.npz")
    images = torch.from_numpy(fid["real"]).permute(0, 3, 1, 2)
    for path, kind, rng, kwargs, x in (("fvd_i3d_standin.pt", "i3d", "native", STYLEGANV_I3D_KWARGS, clips),
                                       ("fid_inception_standin.pt", "inception", "unit", None, images)):
        on = {d: load_feature_net(FIXTURES / path, kind, rng, call_kwargs=kwargs, device=d) for d in ("cpu", "cuda")}
        assert of_largest(embed(on["cuda"], x, 8), embed(on["cpu"], x, 8)) < RTOL, kind

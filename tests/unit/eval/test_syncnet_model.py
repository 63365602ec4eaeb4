"""The official SyncNet architecture and its strict loader; the self-trained model and its loss."""

from __future__ import annotations

import math

import pytest
import torch

from talkhead.models.syncnet import (SelfSyncConfig, SelfSyncNet, SyncNetOfficial, load_syncnet,
                                     shift_contrastive_loss)


def test_official_streams_map_syncnet_inputs_to_1024_d():
    model = SyncNetOfficial().eval()
    with torch.inference_mode():
        assert model.forward_aud(torch.randn(2, 1, 13, 20)).shape == (2, 1024)
        assert model.forward_lip(torch.randn(1, 3, 5, 224, 224)).shape == (1, 1024)


def test_official_state_dict_has_syncnet_python_names_and_shapes():
    state = SyncNetOfficial().state_dict()
    assert state["netcnnaud.0.weight"].shape == (64, 1, 3, 3)
    assert state["netcnnaud.18.weight"].shape == (512, 256, 5, 4)
    assert state["netcnnlip.0.weight"].shape == (96, 3, 5, 7, 7)
    assert state["netcnnlip.18.weight"].shape == (512, 256, 1, 6, 6)
    assert state["netfcaud.3.weight"].shape == state["netfclip.3.weight"].shape == (1024, 512)
    assert "netcnnlip.19.running_var" in state and "netfcaud.1.running_mean" in state
    weights = [k for k in state if "num_batches_tracked" not in k and "running" not in k]
    assert len(weights) == 2 * 6 * 4 + 2 * 6  # 6 conv + bn per stream (4 tensors each), 2 heads (6 each)


def test_a_saved_state_dict_loads_strictly_and_gives_the_same_outputs(tmp_path):
    torch.manual_seed(0)
    model = SyncNetOfficial()
    state = {k: v for k, v in model.state_dict().items() if "num_batches_tracked" not in k}  # as the 2017 file
    torch.save(state, tmp_path / "syncnet_v2.model")
    torch.save(state, tmp_path / "legacy.model", _use_new_zipfile_serialization=False)  # pre-1.6 file format
    x = torch.randn(3, 1, 13, 20)
    for name in ("syncnet_v2.model", "legacy.model"):
        loaded = load_syncnet(tmp_path / name)
        with torch.inference_mode():
            assert torch.equal(loaded.forward_aud(x), model.eval().forward_aud(x))


def test_wrong_keys_or_shapes_fail_with_the_names(tmp_path):
    state = SyncNetOfficial().state_dict()
    renamed = dict(state)
    renamed["netcnnaud.0.kernel"] = renamed.pop("netcnnaud.0.weight")
    torch.save(renamed, tmp_path / "renamed.model")
    want = r"missing keys \['netcnnaud.0.weight'\], unexpected keys \['netcnnaud.0.kernel'\]"
    with pytest.raises(ValueError, match=want):
        load_syncnet(tmp_path / "renamed.model")
    state["netfclip.3.weight"] = torch.zeros(512, 512)
    torch.save(state, tmp_path / "shape.model")
    with pytest.raises(ValueError, match=r"netfclip.3.weight \(512, 512\) != \(1024, 512\)"):
        load_syncnet(tmp_path / "shape.model")
    with pytest.raises(FileNotFoundError, match="SyncNet weights not found"):
        load_syncnet(tmp_path / "absent.model")


def test_selftrained_embeddings_are_unit_vectors():
    model = SelfSyncNet(SelfSyncConfig(hidden=16, dim=8)).eval()
    a, v = model.forward_aud(torch.randn(4, 20, 80)), model.forward_lip(torch.randn(4, 5, 40, 2))
    assert a.shape == v.shape == (4, 8)
    assert torch.allclose(a.norm(dim=1), torch.ones(4)) and torch.allclose(v.norm(dim=1), torch.ones(4))


@pytest.mark.parametrize("batch,shift", [(1, 2), (3, 1), (2, 4)])
def test_loss_is_log_of_the_candidate_count_when_all_embeddings_agree(batch, shift):
    p = 5
    video, audio = torch.ones(batch, p, 4), torch.ones(batch, p + 2 * shift, 4)
    want = math.log(2 * shift + 1 + batch - 1)  # uniform over 2S+1 shifts and B−1 other clips
    assert shift_contrastive_loss(video, audio, shift).item() == pytest.approx(want, rel=1e-6)


def test_loss_vanishes_when_only_the_in_sync_audio_matches():
    torch.manual_seed(0)
    audio = torch.nn.functional.normalize(torch.randn(2, 9, 64), dim=-1) * 3  # far-apart codes
    video = audio[:, 2:7]  # in sync with audio[:, p + 2]
    assert shift_contrastive_loss(video, audio, 2, temperature=0.05).item() < 1e-6
    assert shift_contrastive_loss(audio[:, 1:6], audio, 2).item() > 1.0  # off by one frame: wrong target

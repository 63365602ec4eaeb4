"""RetinaFace backend: original checkpoint key names and sizes, loading, priors, decoding, NMS, detect()."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest
import torch

from talkhead.faces.registry import make_detector, shared_detector
from talkhead.faces.retinaface import (
    STEPS, RetinaFaceDetector, build_retinaface, decode_boxes, decode_landmarks, load_retinaface, nms, prior_boxes,
)
from talkhead.faces.types import KEYPOINTS, Detection

# Key names and shapes as stored in biubug6/Pytorch_Retinaface's mobilenet0.25_Final.pth / Resnet50_Final.pth
# (after stripping `module.`): MobileNet stages via IntermediateLayerGetter (no avg/fc), torchvision ResNet-50
# up to layer4, FPN 1x1 laterals + 3x3 merges, SSH with the odd `conv7x7_3` spelling, 2 anchors per cell.
COMMON_KEYS = {
    "fpn.output1.0.weight", "fpn.output3.1.running_var", "fpn.merge1.0.weight", "fpn.merge2.1.bias",
    "ssh1.conv3X3.0.weight", "ssh1.conv5X5_1.1.weight", "ssh2.conv5X5_2.0.weight", "ssh3.conv7X7_2.1.running_mean",
    "ssh3.conv7x7_3.1.num_batches_tracked", "ClassHead.0.conv1x1.weight", "ClassHead.2.conv1x1.bias",
    "BboxHead.0.conv1x1.weight", "BboxHead.1.conv1x1.bias", "LandmarkHead.0.conv1x1.weight",
    "LandmarkHead.2.conv1x1.bias",
}
EXPECTED = {
    # network: (sample keys, parameter count, state-dict entries, {key: shape})
    "mobilenet0.25": (
        COMMON_KEYS | {"body.stage1.0.0.weight", "body.stage1.0.1.num_batches_tracked", "body.stage1.1.3.weight",
                       "body.stage2.5.4.running_var", "body.stage3.1.3.weight", "body.stage3.1.4.bias"},
        426_608, 300,
        {"body.stage1.0.0.weight": (8, 3, 3, 3), "body.stage1.1.0.weight": (8, 1, 3, 3),
         "fpn.output1.0.weight": (64, 64, 1, 1), "fpn.output3.0.weight": (64, 256, 1, 1),
         "ssh1.conv3X3.0.weight": (32, 64, 3, 3), "ClassHead.0.conv1x1.weight": (4, 64, 1, 1),
         "BboxHead.0.conv1x1.weight": (8, 64, 1, 1), "LandmarkHead.0.conv1x1.weight": (20, 64, 1, 1)},
    ),
    "resnet50": (
        COMMON_KEYS | {"body.conv1.weight", "body.bn1.running_mean", "body.layer1.0.conv1.weight",
                       "body.layer1.0.downsample.0.weight", "body.layer2.3.bn3.weight",
                       "body.layer3.5.conv2.weight", "body.layer4.0.downsample.1.running_var",
                       "body.layer4.2.bn3.num_batches_tracked"},
        27_293_600, 456,
        {"body.conv1.weight": (64, 3, 7, 7), "body.layer2.0.conv2.weight": (128, 128, 3, 3),
         "fpn.output1.0.weight": (256, 512, 1, 1), "fpn.output3.0.weight": (256, 2048, 1, 1),
         "ssh1.conv3X3.0.weight": (128, 256, 3, 3), "ClassHead.0.conv1x1.weight": (4, 256, 1, 1),
         "LandmarkHead.0.conv1x1.weight": (20, 256, 1, 1)},
    ),
}


@pytest.fixture(scope="module")
def mobilenet_state() -> dict[str, torch.Tensor]:
    """A random-initialised mobilenet0.25 state dict (fixed seed)."""
    torch.manual_seed(0)
    return build_retinaface("mobilenet0.25").state_dict()


def _frame(w: int = 320, h: int = 240) -> np.ndarray:
    """(h, w, 3) uint8 RGB test pattern."""
    rng = np.random.default_rng(1)
    small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize("network", ["mobilenet0.25", "resnet50"])
def test_keys_and_sizes_match_original_checkpoints(network):
    sample, params, entries, shapes = EXPECTED[network]
    model = build_retinaface(network)
    state = model.state_dict()
    assert sample <= state.keys(), sorted(sample - state.keys())
    assert not any(".fc." in k or ".avg" in k for k in state)
    assert sum(p.numel() for p in model.parameters()) == params
    assert len(state) == entries
    assert {k: tuple(state[k].shape) for k in shapes} == shapes


@pytest.mark.parametrize("wrap", ["plain", "module", "state_dict"])
def test_detect_on_random_weights(tmp_path, mobilenet_state, wrap):
    state = mobilenet_state
    if wrap != "plain":
        state = {f"module.{k}": v for k, v in state.items()}
    path = tmp_path / "mnet.pth"
    torch.save({"state_dict": state} if wrap == "state_dict" else state, path)
    det = RetinaFaceDetector(path, score_threshold=0.0, nms_iou=0.4)
    found = det.detect(_frame())
    n_priors = len(prior_boxes(240, 320))
    assert n_priors == 3160
    assert 0 < len(found) < n_priors  # NMS removed overlapping candidates
    scores = [d.score for d in found]
    assert scores == sorted(scores, reverse=True)
    for d in found:
        assert isinstance(d, Detection) and isinstance(d.score, float) and 0.0 <= d.score <= 1.0
        assert d.box.shape == (4,) and d.box.dtype == np.float32
        assert d.keypoints.shape == (len(KEYPOINTS), 2) and d.keypoints.dtype == np.float32
        assert np.all(np.isfinite(d.box)) and np.all(np.isfinite(d.keypoints))
        assert 0 <= d.box[0] <= d.box[2] <= 320 and 0 <= d.box[1] <= d.box[3] <= 240
        assert np.all((d.keypoints >= 0) & (d.keypoints <= [320, 240]))


def test_large_frames_are_downscaled_and_mapped_back(tmp_path, mobilenet_state):
    path = tmp_path / "mnet.pth"
    torch.save(mobilenet_state, path)
    small = _frame()
    big = cv2.resize(small, (640, 480), interpolation=cv2.INTER_NEAREST)  # INTER_AREA / 2 gives `small` back
    ref = RetinaFaceDetector(path, score_threshold=0.5, max_side=640).detect(small)
    got = RetinaFaceDetector(path, score_threshold=0.5, max_side=320).detect(big)
    assert len(got) == len(ref) > 0
    for a, b in zip(ref, got):
        np.testing.assert_allclose(b.box, 2 * a.box, rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(b.keypoints, 2 * a.keypoints, rtol=1e-5, atol=1e-3)
        assert b.score == pytest.approx(a.score)


def test_registry_builds_retinaface(tmp_path, mobilenet_state):
    path = tmp_path / "mnet.pth"
    torch.save(mobilenet_state, path)
    det = make_detector("retinaface", 0.9, {"weights": str(path), "network": "mobilenet0.25", "device": "cpu"})
    assert isinstance(det, RetinaFaceDetector) and det.score_threshold == 0.9


def test_a_shard_job_loads_the_detector_once_and_again_for_new_weights(tmp_path, mobilenet_state):
    path = tmp_path / "mnet.pth"
    torch.save(mobilenet_state, path)
    opts = {"weights": str(path), "network": "mobilenet0.25", "device": "cpu"}
    first = shared_detector("retinaface", 0.9, opts)
    assert shared_detector("retinaface", 0.9, dict(opts)) is first  # the next clip of the shard
    assert shared_detector("retinaface", 0.8, opts) is not first  # other settings, another detector
    torch.save({k: v * 2 if v.is_floating_point() else v for k, v in mobilenet_state.items()}, path)
    os.utime(path, ns=(0, 0))  # a rewritten file with a new modification time
    again = shared_detector("retinaface", 0.9, opts)
    assert again is not first
    torch.testing.assert_close(again.model.state_dict()["ClassHead.0.conv1x1.weight"],
                               2 * mobilenet_state["ClassHead.0.conv1x1.weight"])


def test_checkpoint_without_bn_counters_loads(tmp_path, mobilenet_state):
    path = tmp_path / "old.pth"
    torch.save({k: v for k, v in mobilenet_state.items() if not k.endswith("num_batches_tracked")}, path)
    model = load_retinaface(path, "mobilenet0.25")
    torch.testing.assert_close(model.state_dict()["ClassHead.0.conv1x1.weight"],
                               mobilenet_state["ClassHead.0.conv1x1.weight"])


def test_prior_count_and_layout():
    priors = prior_boxes(640, 640)
    assert priors.shape == (16800, 4)
    torch.testing.assert_close(priors[:2], torch.tensor([[4, 4, 16, 16], [4, 4, 32, 32]]) / 640.0)
    torch.testing.assert_close(priors[-1], torch.tensor([624, 624, 512, 512]) / 640.0)


def test_priors_match_network_output_size():
    model = build_retinaface("mobilenet0.25")
    with torch.inference_mode():
        loc, probs, landm = model(torch.zeros(1, 3, 250, 330))
    n = len(prior_boxes(250, 330))
    assert loc.shape == (1, n, 4) and probs.shape == (1, n, 2) and landm.shape == (1, n, 10)


def test_zero_offsets_decode_to_priors():
    priors = prior_boxes(64, 96)
    boxes = decode_boxes(torch.zeros(len(priors), 4), priors)
    expected = torch.cat([priors[:, :2] - priors[:, 2:] / 2, priors[:, :2] + priors[:, 2:] / 2], dim=1)
    torch.testing.assert_close(boxes, expected)
    points = decode_landmarks(torch.zeros(len(priors), 10), priors)
    assert points.shape == (len(priors), 5, 2)
    torch.testing.assert_close(points, priors[:, None, :2].expand(-1, 5, -1))


def test_nonzero_offsets_decode_like_the_original_formula():
    priors = torch.tensor([[0.5, 0.5, 0.2, 0.1]])
    box = decode_boxes(torch.tensor([[1.0, -1.0, 0.0, 5.0]]), priors)[0]
    cx, cy, w, h = 0.5 + 0.1 * 0.2, 0.5 - 0.1 * 0.1, 0.2, 0.1 * np.exp(1.0)
    torch.testing.assert_close(box, torch.tensor([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dtype=torch.float32))
    pts = decode_landmarks(torch.arange(10.0)[None], priors)[0]
    torch.testing.assert_close(pts[2], torch.tensor([0.5 + 4 * 0.1 * 0.2, 0.5 + 5 * 0.1 * 0.1]))


def test_nms_on_hand_made_boxes():
    boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 10.5]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
    # IoU(3, 0) = 0.952, IoU(3, 1) = 0.715, IoU(0, 1) = 0.681, box 2 overlaps nothing.
    assert nms(boxes, scores, 0.4).tolist() == [3, 2]
    assert nms(boxes, scores, 0.9).tolist() == [3, 1, 2]
    assert nms(boxes, scores, 1.0).tolist() == [3, 0, 1, 2]
    assert nms(boxes[:0], scores[:0], 0.4).tolist() == []


def test_wrong_variant_is_a_value_error(tmp_path):
    path = tmp_path / "Resnet50_Final.pth"
    torch.save({f"module.{k}": v for k, v in build_retinaface("resnet50").state_dict().items()}, path)
    with pytest.raises(ValueError, match="resnet50") as err:
        RetinaFaceDetector(path, network="mobilenet0.25")
    msg = str(err.value)
    assert "missing keys" in msg and "body.stage1.0.0.weight" in msg and "unexpected keys" in msg


def test_missing_weights_name_the_param(tmp_path):
    with pytest.raises(FileNotFoundError, match="faces.retinaface.weights"):
        RetinaFaceDetector(tmp_path / "nope.pth")
    with pytest.raises(ValueError, match="unknown RetinaFace network"):
        build_retinaface("mobilenet2")


def test_detect_batch_gives_each_frames_detect(tmp_path, mobilenet_state):
    path = tmp_path / "mnet.pth"
    torch.save(mobilenet_state, path)
    det = RetinaFaceDetector(path, score_threshold=0.5)
    frames = [_frame(), np.ascontiguousarray(_frame()[::-1]), np.ascontiguousarray(_frame()[:, ::-1])]
    batched = det.detect_batch(frames)
    assert len(batched) == 3 and det.detect_batch([]) == []
    for frame, got in zip(frames, batched):
        want = det.detect(frame)
        assert len(got) == len(want) > 0
        for a, b in zip(want, got):
            np.testing.assert_allclose(b.box, a.box, atol=1e-3)
            np.testing.assert_allclose(b.keypoints, a.keypoints, atol=1e-3)
            assert b.score == pytest.approx(a.score, abs=1e-5)
    with pytest.raises(ValueError, match="one size"):
        det.detect_batch([_frame(), _frame(160, 120)])


class _BlobNet(torch.nn.Module):
    """A stand-in RetinaFace head whose face score is the brightness of each stride-16 cell (first anchor only):
    bright squares on a dark frame become faces with scores that vary, so batched and single detection can be
    compared (random RetinaFace weights score every prior about the same)."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, _, h, w = x.shape
        logits = []
        for step in STEPS:
            cells = torch.nn.functional.avg_pool2d(x[:, :1], step, step, ceil_mode=True).flatten(1)  # (B, cells)
            signal = (cells - 20.0) / 4.0 if step == 16 else torch.full_like(cells, -50.0)
            logits.append(torch.stack([signal, torch.full_like(signal, -50.0)], dim=2).flatten(1))  # (B, cells·2)
        face = torch.cat(logits, dim=1)  # (B, N)
        probs = torch.stack([torch.zeros_like(face), face], dim=2).softmax(dim=2)  # (B, N, 2)
        n = face.shape[1]
        return torch.zeros(b, n, 4), probs, torch.zeros(b, n, 10)


@pytest.mark.parametrize("speaker", ["largest", "active"])
def test_batched_probes_give_the_unbatched_track(tmp_path, mobilenet_state, speaker, monkeypatch):
    """faces.batch_probes > 1 detects a clip's probes together (and, with the speaker finder, holds the frames
    between them): the same track and statistics as one probe at a time."""
    import soundfile as sf

    from talkhead.config import FacesConfig
    from talkhead.faces.find import find_faces
    from talkhead.media.clip_video import ClipVideo
    from talkhead.media.encode import VideoWriter

    from talkhead.faces import registry

    path = tmp_path / "mnet.pth"
    torch.save(mobilenet_state, path)
    with VideoWriter(tmp_path / "clip.mp4", fps=25, size=(320, 240), crf=10, preset="ultrafast") as writer:
        for i in range(47):  # 10 probes at stride 5, the last batch of 4 incomplete; two bright squares move
            frame = np.full((240, 320, 3), 20, np.uint8)
            frame[60 + i:108 + i, 40 + 2 * i:88 + 2 * i] = 250
            frame[90:138, 200 - i:248 - i] = 235
            writer.write_frame(frame)
    t = np.arange(47 * 640) / 16000
    sf.write(tmp_path / "audio.wav", (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000)
    video = ClipVideo(str(tmp_path / "clip.mp4"), 25, 0.0, None, 47, 320, 240)
    from talkhead.faces.speaker import SpeakerFinder

    seen: list[tuple[int, int]] = []  # (batch_probes, frame) the speaker finder measured mouths on, in order
    measure = SpeakerFinder.frame
    monkeypatch.setattr(SpeakerFinder, "frame", lambda self, i, rgb: (seen.append((batch, i)), measure(self, i, rgb)))
    results = []
    for batch in (1, 4):
        cfg = FacesConfig.from_json(json.dumps({
            "detector": "retinaface", "retinaface_weights": str(path), "score_threshold": 0.9, "stride": 5,
            "speaker": speaker, "batch_probes": batch}))
        registry.shared_detector("retinaface", 0.9, {"weights": str(path), "network": "mobilenet0.25",
                                                     "device": "cpu"}).model = _BlobNet()
        results.append(find_faces(video, cfg, "clip", tmp_path / "audio.wav"))
    (one, stats_one), (four, stats_four) = results
    assert stats_one["probes"] == stats_four["probes"] == 10 and stats_one["faces_max"] >= 2
    assert {k: v for k, v in stats_one.items() if k not in ("face_px", "face_frac", "speaker")} == \
        {k: v for k, v in stats_four.items() if k not in ("face_px", "face_frac", "speaker")}
    np.testing.assert_allclose(four.to_numpy(np.float64), one.to_numpy(np.float64), atol=1e-3, equal_nan=True)
    if speaker == "active":  # the finder saw the same frames in the same order, held ones included
        assert stats_one["speaker"]["faces"] == stats_four["speaker"]["faces"] >= 2
        frames = [[i for b, i in seen if b == batch] for batch in (1, 4)]
        assert frames[0] == frames[1] and len(frames[0]) > 10 and any(i % 5 for i in frames[0])

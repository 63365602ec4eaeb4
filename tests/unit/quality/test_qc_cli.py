"""`talkhead qc` on good and bad files: one JSON verdict each, never a traceback, exit 0."""

from __future__ import annotations

import json
import subprocess

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf
from skimage import data as skdata

from talkhead.cli import main
from talkhead.data.manifest import read_manifest
from talkhead.media.encode import VideoWriter
from talkhead.stages.qc_files import clip_id_for


@pytest.fixture(scope="module")
def inputs(demo_dataset, tmp_path_factory):
    """Name → (path, the reason(s) one of which must be given, or None for accept)."""
    d = tmp_path_factory.mktemp("inputs")
    rows = {r.clip_id: r for r in read_manifest(demo_dataset)}
    speaking = next(r for c, r in rows.items() if c.startswith("demo_s"))
    good = (demo_dataset.parent / speaking.source).read_bytes()
    files = {}
    (d / "gesprochen_äöü 話.mp4").write_bytes(good)
    files["non_ascii_good"] = (d / "gesprochen_äöü 話.mp4", None)
    (d / "empty.mp4").write_bytes(b"")
    files["zero_bytes"] = (d / "empty.mp4", {"unreadable"})
    (d / "truncated.mp4").write_bytes(good[: len(good) // 4])
    files["truncated"] = (d / "truncated.mp4", {"unreadable", "too_short"})
    ok, png = cv2.imencode(".png", skdata.astronaut()[:, :, ::-1])
    (d / "photo.jpg").write_bytes(png.tobytes())
    (d / "photo.mp4").write_bytes(png.tobytes())
    files["png_as_jpg"] = (d / "photo.jpg", {"unreadable"})
    files["png_as_mp4"] = (d / "photo.mp4", {"unreadable"})
    sf.write(d / "speech.wav", np.zeros(16000, np.float32), 16000)
    files["audio_only"] = (d / "speech.wav", {"unreadable"})
    with VideoWriter(d / "one_frame.mp4", fps=25, size=(128, 128), preset="ultrafast") as w:
        w.write_frame(skdata.astronaut()[::4, ::4][:128, :128])
    files["one_frame"] = (d / "one_frame.mp4", {"too_short"})
    with VideoWriter(d / "video_only.mp4", fps=25, size=(128, 128), preset="ultrafast") as w:
        for _ in range(60):
            w.write_frame(cv2.resize(skdata.astronaut(), (128, 128)))
    files["video_only"] = (d / "video_only.mp4", {"no_audio"})
    (d / "loop_a.mp4").symlink_to(d / "loop_b.mp4")
    (d / "loop_b.mp4").symlink_to(d / "loop_a.mp4")
    files["symlink_loop"] = (d / "loop_a.mp4", {"unavailable"})
    (d / "folder.mp4").mkdir()
    files["directory"] = (d / "folder.mp4", {"unreadable"})
    from PIL import Image

    frames = [Image.fromarray(cv2.resize(skdata.astronaut(), (64, 64)) // (k + 1)) for k in range(4)]
    frames[0].save(d / "animated.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    files["animated_gif"] = (d / "animated.gif", {"unreadable"})
    two = d / "two_tracks.mp4"  # a silent first audio track, the speech second
    silent = d / "silent.wav"
    sf.write(silent, np.zeros(16000 * 2, np.float32), 16000)
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(silent),
                    "-i", str(d / "gesprochen_äöü 話.mp4"), "-map", "1:v", "-map", "0:a", "-map", "1:a", "-c:v",
                    "copy", "-c:a", "aac", str(two)], check=True)
    files["two_audio_streams"] = (two, None)
    negatives = [r for c, r in rows.items() if not c.startswith("demo_s")]
    for r in negatives:
        files[r.clip_id] = (demo_dataset.parent / r.source, "negative")
    return files


def test_every_input_gets_a_verdict(inputs, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text(  # the tiny 128 px demo face is ~60 px: scale the face thresholds with it
        "crop:\n  size: 128\n  preset: ultrafast\n"
        "quality:\n  min_face_px: 40\n  min_blur: 1.0\n")
    paths = [str(p) for p, _ in inputs.values()] + [str(tmp_path / "missing.mp4")]
    assert main(["qc", *paths, "--out", str(tmp_path / "out"), "--params", str(params)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == len(paths) and "Traceback" not in captured.out + captured.err
    for name, (path, allowed) in inputs.items():
        got = json.loads((tmp_path / "out" / f"{path.name}.json").read_text())
        assert got["file"] == str(path.absolute())
        assert {"verdict", "reasons", "av_offset_frames", "face_px", "speech_fraction", "blur"} <= set(got)
        if allowed is None:
            assert got["verdict"] == "accept", (name, got)
        elif allowed == "negative":
            assert got["verdict"] == "reject", (name, got)
        else:
            assert got["verdict"] == "reject" and set(got["reasons"]) & allowed, (name, got)
    missing = json.loads((tmp_path / "out" / "missing.mp4.json").read_text())
    assert missing["reasons"] == ["unavailable"] and "no such file" in missing["message"]
    messages = {name: json.loads((tmp_path / "out" / f"{p.name}.json").read_text())["message"]
                for name, (p, _) in inputs.items()}
    assert "symbolic link loop" in messages["symlink_loop"] and "a directory" in messages["directory"]
    assert "animated GIF" in messages["animated_gif"]
    two = json.loads((tmp_path / "out" / "two_tracks.mp4.json").read_text())
    assert two["measures"]["speech_fraction"] > 0.3  # the speech track was measured, not the silent first one
    assert not (tmp_path / "out" / ".work").exists()


def test_same_named_inputs_get_one_report_each(tmp_path):
    names = [tmp_path / "a.mp4", tmp_path / "a.mkv", tmp_path / "a.webm", tmp_path / "x" / "a.mp4"]
    for path in names:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"not a video")
    assert main(["qc", *map(str, names), "--out", str(tmp_path / "out")]) == 0
    reports = sorted((tmp_path / "out").glob("*.json"))
    assert len(reports) == len(names)
    assert sorted(json.loads(r.read_text())["file"] for r in reports) == sorted(str(p) for p in names)


def test_usage_error_exits_nonzero():
    with pytest.raises(SystemExit) as exc:
        main(["qc", "--out", "x"])
    assert exc.value.code == 2


def test_clip_ids_are_safe_and_distinct(tmp_path):
    a, b = clip_id_for(tmp_path / "a b.mp4"), clip_id_for(tmp_path / "a_b.mp4")
    assert a != b and all(c.isalnum() or c in "_-" for c in a + clip_id_for(tmp_path / "話.mp4"))

"""The gate never damages good data: derived copies of the accepted real clips (cuts, shifted audio).

Each accepted real clip is cut (5 s from the start with its audio shifted by −10, −5, 0, +5, +10
frames; 3 s from 1 s in, in sync) with ffmpeg (`-itsoffset` on a second input of the same file), re-encoded, and run
through `talkhead qc`. Truth: the original is in sync (0); a copy's offset is its shift. The gate
must apply no correction more than one frame from the truth, and must leave every in-sync cut alone
(measured within ±1, or uncertain and not shifted). How many shifted copies are detected is a
measurement, not a pass mark: benchmarks/av_offset.py reports it (docs/qc.md).
"""

from __future__ import annotations

import subprocess

import imageio_ffmpeg
import pytest

import pandas as pd

from talkhead.config import AvCorpusConfig, QualityConfig, load_params
from talkhead.quality.av_corpus_pass import run_av_corpus
from talkhead.stages.qc_files import run_qc

pytestmark = pytest.mark.realdata
ACCEPTED = ["video-retalking__face_1", "video-retalking__face_2", "video-retalking__face_4",
            "SadTalker__ref_video_WDA_KatieHill_000", "AniPortrait__head_pose_temp_pose_ref_video"]
CUTS = {(0.0, 5.0): (-10, -5, 0, 5, 10), (1.0, 3.0): (0,)}  # (start s, seconds): shifts in frames, + = audio late


def derive(src, out, start: float, seconds: float, shift: int) -> None:
    """A re-encoded cut [start, start + seconds) of `src` whose audio is `shift` frames late."""
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-i", str(src),
                    "-itsoffset", f"{shift / 25:.3f}", "-i", str(src), "-map", "0:v", "-map", "1:a",
                    "-ss", f"{start:.3f}", "-t", f"{seconds:.3f}", "-r", "25", "-c:v", "libx264", "-crf", "18",
                    "-preset", "veryfast", "-c:a", "aac", "-ar", "16000", str(out)], check=True)


@pytest.fixture(scope="module")
def measured(real_media, tmp_path_factory):
    """[(clip, start, seconds, shift, report)] for every derived copy."""
    folder = tmp_path_factory.mktemp("derived")
    cases, files = [], []
    for clip in ACCEPTED:
        for (start, seconds), shifts in CUTS.items():
            for shift in shifts:
                path = folder / f"{clip}__{start:g}s_{seconds:g}s_{shift:+d}.mp4"
                derive(real_media / "videos" / f"{clip}.mp4", path, start, seconds, shift)
                cases.append((clip, start, seconds, shift))
                files.append(path)
    params = load_params(None)
    params["crop"]["size"] = 256  # the gate's measures do not depend on the crop size; this is faster
    reports = run_qc(files, folder / "qc", params, keep=True)
    return [(*case, report) for case, report in zip(cases, reports)], folder / "qc" / ".work"


@pytest.fixture(scope="module")
def second_pass(measured, tmp_path_factory):
    """The corpus-level pass over the derived files (more than half of them shifted), one speaker per source clip."""
    rows, work = measured
    manifest = tmp_path_factory.mktemp("corpus") / "manifest.csv"
    manifest.write_text("clip_id,source,start,end,speaker,split\n" + "".join(
        f"{r['clip']},x.mp4,0,,{clip},train\n" for clip, _, _, _, r in rows))
    run_av_corpus([work / "quality" / r["clip"] for *_, r in rows], work / "crop", work / "normalize",
                  manifest.parent / "av_corpus", AvCorpusConfig.from_dict({"enabled": True}),
                  QualityConfig.from_dict({}), manifest)
    table = pd.read_csv(manifest.parent / "av_corpus" / "offsets.csv").set_index("clip")
    return [(clip, st, sec, shift, table.loc[r["clip"]]) for clip, st, sec, shift, r in rows]


def test_no_correction_is_more_than_a_frame_from_the_truth(measured):
    wrong = [(c, st, sec, shift, r["av_shift_frames"]) for c, st, sec, shift, r in measured[0]
             if r["av_shift_frames"] and abs(r["av_shift_frames"] - shift) > 1]
    assert not wrong, wrong


def test_every_in_sync_cut_is_left_alone(measured):
    in_sync = [(c, st, sec, r) for c, st, sec, shift, r in measured[0] if shift == 0]
    disturbed = [(c, st, sec, r["measures"].get("av_status"), r["measures"].get("av_offset_frames"))
                 for c, st, sec, r in in_sync
                 if r["av_shift_frames"] != 0 or (r["measures"].get("av_status") == "measured"
                                                  and abs(r["measures"]["av_offset_frames"]) > 1)]
    assert not disturbed, disturbed
    assert all(r["verdict"] == "accept" for *_, r in in_sync), [(c, r["reasons"]) for c, *_, r in in_sync]



def test_second_pass_flags_no_in_sync_cut(second_pass):
    flagged_in_sync = [(c, st, sec, row["av_offset_corpus"]) for c, st, sec, shift, row in second_pass
                       if shift == 0 and row["flag"]]
    assert not flagged_in_sync, flagged_in_sync
    shifted = [(shift, row) for _, _, sec, shift, row in second_pass if shift != 0 and sec == 5.0]
    hits = sum(bool(row["flag"]) and abs(row["av_offset_corpus"] - shift) <= 3 for shift, row in shifted)
    print(f"second pass: {hits} of {len(shifted)} shifted 5-s copies flagged out of sync")

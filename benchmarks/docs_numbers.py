"""Tables in README.md and docs/*.md generated from committed result files, so a quoted number has a source.

    python benchmarks/docs_numbers.py           # rewrite every generated table (make docs-numbers)
    python benchmarks/docs_numbers.py --check   # exit 1, naming them, if a table differs from its file

A generated table sits between `<!-- numbers: NAME -->` and `<!-- /numbers -->` in a doc; NAME is a
renderer below, which reads a file under benchmarks/results/ (for the demo's models,
demo_eval.json, written by benchmarks/demo_eval.py after `make demo`; for a benchmark, the file its
script under benchmarks/ writes). Prose around a table is written by hand and should quote the
table's numbers. Measured tables with no committed results file (a hand-run or a test's numbers) stay
hand-written until a script writes one.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks/results"
BLOCK = re.compile(r"(<!-- numbers: (?P<name>[a-z0-9_]+) -->\n)(?P<body>.*?)(<!-- /numbers -->)", re.S)


def _load(name: str) -> dict:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def _row(cells: list[str]) -> str:
    return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"


def _rule(n: int) -> str:
    return "|" + "---|" * n


def v3face_val_l1() -> list[str]:
    """V3 Face's val L1 per channel group: the model, crisp, both baselines, the streamed ONNX graphs. The model's
    number is bold where it beats both baselines by more than 5 %."""
    m = _load("demo_eval.json")["metrics"]["eval_v3face"]
    groups = ("val_l1_lipsync", "val_l1_expression", "val_l1_all")
    wins = {g: m["model"][g] < 0.95 * min(m["baseline_mean_pose"][g], m["baseline_silence"][g]) for g in groups}

    def cells(entry: str) -> list[str]:
        return [f"**{m[entry][g]:.4f}**" if entry == "model" and wins[g] else f"{m[entry][g]:.4f}" for g in groups]

    return [_row(["val L1", "lipsync", "expression", "all"]), _rule(4),
            _row(["model", *cells("model")]), _row(["model + crisp", *cells("model_crisp")]),
            _row(["baseline: training-mean pose", *cells("baseline_mean_pose")]),
            _row(["baseline: silent audio", *cells("baseline_silence")]),
            _row(["ONNX fp32 streamed / int8",
                  *(f"{m['onnx_fp32'][g]:.4f} / {m['onnx_int8'][g]:.4f}" for g in groups)])]


def motion_dit_eval() -> list[str]:
    """The motion DiT's evaluation: mouth–speech r and motion L1 per source, rendered LMD and self-trained sync."""
    m = _load("demo_eval.json")["metrics"]["eval_motion_dit"]
    cfg = m["cfg_scale"]

    def num(key: str, fmt: str) -> str:
        return format(m[key], fmt).replace("-", "−") if key in m else "—"

    return [_row(["", f"guided ({cfg:g})", "guidance 0", "silence", "**driven**", "still face", "ground truth"]),
            _rule(7),
            _row(["mouth–envelope r (best lag ±3)", num("mouth_env_r_guided", ".3f"), num("mouth_env_r_cfg0", ".3f"),
                  num("mouth_env_r_silence", ".3f"), f"**{num('mouth_env_r_driven', '.3f')}**", "—",
                  num("mouth_env_r_ground_truth", ".3f")]),
            _row(["motion val L1 (normalised, all 70)", num("val_l1", ".3f"), num("val_l1_cfg0", ".3f"),
                  num("val_l1_silence", ".3f"), f"**{num('val_l1_driven', '.3f')}**", num("val_l1_static", ".3f"),
                  "—"]),
            _row(["`lmd_mediapipe` (guided)", num("lmd_mediapipe", ".4f"), "—", "—", "—",
                  num("lmd_mediapipe_static", ".4f"), "—"]),
            _row(["`sync_c_selftrained` (guided)", num("sync_c_selftrained", ".3f"), "—", "—", "—",
                  num("sync_c_selftrained_static", ".3f"), num("sync_c_selftrained_ground_truth", ".3f")])]


def dvc_status() -> list[str]:
    """DVC on a 10,000-clip tree (benchmarks/dvc_status.py): commit once, status clean and after one change."""
    r = _load("dvc_status.json")
    clean = " / ".join(f"{s:.1f}" for s in r["dvc_status_clean_s"])
    return [_row(["clips", "files", "`dvc commit --force` (s)", "`dvc status`, nothing changed (s, 2 runs)",
                  "`dvc status`, one clip file changed (s)", f"target < {r['target_status_s']:g} s"]),
            _rule(6),
            _row([f"{r['clips']:,}", f"{r['files']:,}", f"{r['dvc_commit_s']:.0f}", clean,
                  f"{r['dvc_status_one_changed_s']:.1f}", "met" if r["meets_target"] else "**not met**"])]


def report_scale() -> list[str]:
    """The dataset report over a synthetic 100,000-clip run (benchmarks/report_scale.py): time and page size."""
    r = _load("report_scale.json")
    return [_row(["clips", "speakers", "rejection reasons", "thumbnails", "`write_report` (s)", "page (MB)",
                  f"target {r['target']}"]),
            _rule(7),
            _row([f"{r['clips']:,}", f"{r['speakers']:,}", str(r["reasons"]), str(r["thumbnails"]),
                  f"{r['report_s']:.1f}", f"{r['page_mb']:.2f}", "met" if r["meets_target"] else "**not met**"])]


def microalbert_eval() -> list[str]:
    """MicroAlbert against its teacher on held-out text (all / real / generated rows): Pearson r and MAE per axis,
    the constant baseline's MAE, and the one-thread latency of a 32-token sentence."""
    m = _load("demo_eval.json")["metrics"]["eval_microalbert"]
    rows = next(v for k, v in m.items() if k.startswith("agreement_"))
    axes = ("valence", "arousal", "dominance")
    out = [_row(["held-out rows", "n", *(f"{a} r" for a in axes), *(f"{a} MAE (constant)" for a in axes)]), _rule(8)]
    for name in ("all", "real", "generated"):
        s, b = rows[name]["student"], rows[name]["constant_baseline"]
        out.append(_row([name, str(rows[name]["rows"]), *(f"{s[a]['pearson_r']:.3f}" for a in axes),
                         *(f"{s[a]['mae']:.3f} ({b[a]['mae']:.3f})" for a in axes)]))
    lat = _load("demo_eval.json")["metrics"]["eval_microalbert_latency"]["latency_1thread"]
    out += ["", _row(["one thread, batch 1", "tokens", "p50 (ms)", "p99 (ms)"]), _rule(4)]
    for engine in ("torch", "onnxruntime", "tokenizer"):
        if engine in lat:
            out.append(_row([engine, str(lat["tokens"]), f"{lat[engine]['p50_ms']:.2f}",
                             f"{lat[engine]['p99_ms']:.2f}"]))
    out += ["", f"Student `{m['size']}`, {m['parameters']:,} parameters, teacher `{m['teacher']}`; "
                f"probe pairs ordered: {m['probes_ordered']}/{m['probes']}."]
    e = m.get("emotion_mapping")
    if e:
        hits = ", ".join(f"{k} {v}/{e['emotion_sentences'] // len(e['emotion_label_hits'])}"
                         for k, v in e["emotion_label_hits"].items())
        out[-1] += (f" `--emotion auto`'s label named the intended emotion for {e['emotion_label_accuracy']:.0%} of "
                    f"{e['emotion_sentences']} sentences (chance {e['chance']:.1%}): {hits}.")
    return out


def _count(n: int) -> str:
    """A parameter count as the docs write it: 146 K, 484 M, 2.18 B."""
    if n >= 1e9:
        return f"{n / 1e9:.2f} B"
    return f"{n / 1e6:.0f} M" if n >= 1e6 else f"{n / 1e3:.0f} K"


DUALFORCE_USE = {"tiny": "unit tests, CI", "small": "`make demo` on CPU", "base": "one GPU",
                 "large": "the notes' MOVA-Lite, 8 GPUs + FSDP"}


def dualforce_sizes() -> list[str]:
    """DualForce's registry at the cluster setting (benchmarks/dualforce_sizes.py), and the demo's trained `small`
    (its parameter count from demo_eval.json: the demo's 4-channel VAE and K = dualforce.bridge_layers)."""
    sizes = _load("dualforce_sizes.json")["sizes"]
    demo = _load("demo_eval.json")["metrics"]["dualforce"]
    out = [_row(["size", "video / structure width", "heads", "depth", "parameters", "use"]), _rule(6)]
    for name in sorted(sizes, key=lambda k: sizes[k]["cluster"]["parameters"]):
        c = sizes[name]["cluster"]
        spec = c["spec"]
        params = _count(c["parameters"])
        if c["parameters"] >= 1e8:
            params += (f" (video {_count(c['video_tower'])}, structure {_count(c['struct_tower'])}, "
                       f"bridge {_count(c['bridge'])})")
        if name == "small":
            params += f" ({_count(demo['parameters'])} trained by the demo)"
        out.append(_row([name, f"{spec['video_hidden']} / {spec['struct_hidden']}", str(spec["heads"]),
                         str(spec["depth"]), params, DUALFORCE_USE.get(name, "")]))
    return out


def _sign(text: str) -> str:
    """A number as the docs write it: a true minus sign."""
    return text.replace("-", "−")


def _span(values: list[float], fmt: str) -> str:
    """min–max of `values` (one value when both round alike; 'a to b' when a is negative)."""
    lo, hi = format(min(values), fmt), format(max(values), fmt)
    if lo == hi:
        return _sign(lo)
    return _sign(f"{lo} to {hi}" if min(values) < 0 else f"{lo}–{hi}")


def dualforce_eval() -> list[str]:
    """DualForce's evaluation on the demo (demo_eval.json, `eval_dualforce`): reconstruction and lip measures on
    the held-out clips' own frames, and drift (landmark shape, first-frame PSNR and latent cosine) per length."""
    m = _load("demo_eval.json")["metrics"]["eval_dualforce"]
    lengths = m["eval_lengths"].split(",")

    def per_length(name: str, fmt: str) -> str:
        return " / ".join(format(m[f"consistency_{name}_{n}"], fmt) for n in lengths)

    return [_row(["measure", "value"]), _rule(2),
            _row(["`latent_l1`", f"{m['latent_l1']:.3f}"]),
            _row(["`structure_l1` (normalised motion)", f"{m['structure_l1']:.2f}"]),
            _row([f"`lmd_mediapipe` (faces found in both videos in {m['lmd_mediapipe_frames']} frames)",
                  f"{m['lmd_mediapipe']:.3f}"]),
            _row(["`lmd_structure`", f"{m['lmd_structure']:.4f}"]),
            _row(["`sync_c_selftrained` / `sync_d_selftrained`",
                  f"{m['sync_c_selftrained']:.3f} / {m['sync_d_selftrained']:.2f}"]),
            _row([f"landmark-shape drift at {' / '.join(lengths)} frames",
                  f"{per_length('landmark_shape_drift', '.3f')} (the real clips' own: "
                  f"{m['landmark_shape_drift_ground_truth']:.3f})"]),
            _row(["first-frame PSNR at the same lengths", f"{per_length('first_frame_psnr', '.1f')} dB"]),
            _row(["first-frame latent cosine at the same lengths", per_length("first_frame_latent_cos", ".2f")])]


SPLIT = {"3s": "3 s", "5s": "5 s", "whole": "whole clip"}
AV_MEASURE = {"per_clip": "per clip (`talkhead qc`)", "corpus": "corpus model, speaker left out"}


def av_offset() -> list[str]:
    """The gate's A/V-offset measures on cuts of the real fixture clips with known shifts
    (benchmarks/av_offset.py): per measure, clip set and cut length, what was left alone, measured, flagged."""
    r = _load("av_offset.json")["results"]
    out = [_row(["measure", "clips", "cuts", "cases", "in-sync left alone", "shifted: measured within ±1",
                 "shifted: flagged out of sync (of ±10 only)", "wrong actions"]), _rule(8)]
    for key, c in r.items():
        measure, clips, cut = key.split("/")
        out.append(_row([AV_MEASURE.get(measure, measure), clips, SPLIT.get(cut, cut), str(c["cases"]),
                         f"{c['in_sync_left_alone']:.0%}", f"{c['shifted_measured_within_1']:.0%}",
                         f"{c['shifted_flagged_out_of_sync']:.0%} ({c['shifted_10_flagged']:.0%})",
                         str(c["wrong_actions"])]))
    return out


def speaking() -> list[str]:
    """Does a generated portrait speak real English speech (benchmarks/speaking.py): the inner-lip gap's std and
    p95 − p5 range and its best-lag r with the loudness, real talking clips against the generated videos."""
    r = _load("speaking.json")
    gen = [g for g in r["generated"] if "skipped" not in g]

    def cells(rows: list[dict], generated: bool) -> list[str]:
        """gap std, p95 − p5 and r as min–max; the generated videos' std and r in bold, with the std's median."""
        std, corr = [x["gap_std"] for x in rows], [x["r_loudness"] for x in rows]
        std_cell, corr_cell = _span(std, ".3f"), _span(corr, ".2f")
        if generated:
            std_cell = f"**{std_cell}** (median {statistics.median(std):.3f})"
            corr_cell = f"**{corr_cell}**"
        return [std_cell, _span([x["gap_range"] for x in rows], ".2f"),
                f"{corr_cell} (median {_sign(format(statistics.median(corr), '.2f'))})"]

    portraits, speech = len({g["portrait"] for g in gen}), len({g["speech"] for g in gen})
    return [_row(["video", "gap std", "p95 − p5", "best-lag r with loudness"]), _rule(4),
            _row([f"real talking clips ({len(r['real'])})", *cells(r["real"], False)]),
            _row([f"generated, {portraits} portraits × {speech} English recordings ({len(gen)})",
                  *cells(gen, True)])]


def scale_plan() -> list[str]:
    """Planning the workflow through the SLURM profile at 10,000 to 1,000,000 clips (benchmarks/scale.py):
    plan time and SLURM jobs, fresh and after the gate."""
    by_clips = _load("scale.json")["by_clips"]
    out = [_row(["clips", "plan", "plan time", "SLURM jobs", "of them per shard", "clips per job"]), _rule(6)]
    for size in sorted(by_clips, key=int):
        for plan, label in (("fresh", "fresh"), ("after_gate", "after the gate")):
            p = by_clips[size][plan]
            t = p["plan_seconds"]
            out.append(_row([f"{int(size):,}", label, f"{t:.1f} s" if t < 100 else f"{t:.0f} s",
                             f"{p['slurm_jobs']:,}", f"{p['per_shard_jobs']:,}", f"{p['clips_per_slurm_job']:.1f}"]))
    return out


def render_fps() -> list[str]:
    """The mesh-warp renderer's frames per second on one pinned core (benchmarks/render.py), by wall clock and
    (in brackets) by CPU time; the render at the target's 256² crop in bold."""
    cases = _load("render.json")["cases"]

    def fps(case: dict, part: str) -> str:
        return f"{case[part]['fps']:.0f} ({case[part]['cpu_fps']:.0f})" if part in case else "—"

    out = [_row(["face crop", "photo", "field only (work crop)", "render (incl. paste-back)",
                 "render + H.264/AAC encode"]), _rule(5)]
    for c in cases.values():
        w, h = c["photo_px"]
        crop = f"{c['work_px']}²" + (" (capped)" if c["crop_px"] > 1.05 * c["work_px"] else "")
        render = fps(c, "render")
        out.append(_row([crop, f"{w}²" if w == h else f"{w} × {h}", fps(c, "field"),
                         f"**{render}**" if c["work_px"] == 256 else render, fps(c, "video")]))
    return out


PREPROCESS_CLIPS = {"video-retalking__face_1.mp4": "video-retalking face_1",
                    "video-retalking__face_2.mp4": "video-retalking face_2",
                    "video-retalking__face_4.mp4": "video-retalking face_4",
                    "SadTalker__ref_video_WDA_KatieHill_000.mp4": "SadTalker WDA_KatieHill",
                    "AniPortrait__head_pose_temp_pose_ref_video.mp4": "AniPortrait head_pose",
                    "hd1080_60s.mp4": "1080p, 60 s"}


def preprocess() -> list[str]:
    """The pre-gate path per clip on one core (benchmarks/preprocess.py): the floor, talkhead inside a shard job
    and the naive chain, in seconds, and their ratios."""
    def sec(s: float) -> str:
        return f"{s:.2f} s" if s < 20 else f"{s:.1f} s"

    out = [_row(["clip", "frames", "floor", "talkhead in a shard", "talkhead / floor", "naive", "naive / talkhead"]),
           _rule(7)]
    for c in _load("preprocess.json")["clips"]:
        out.append(_row([PREPROCESS_CLIPS.get(c["clip"], c["clip"]), f"{c['frames']:,}",
                         sec(c["floor"]["in_shard_s"]), sec(c["talkhead"]["in_shard_s"]),
                         f"{c['in_shard_over_floor']:.2f}×", sec(c["naive"]["wall_s"]),
                         f"{c['naive_over_in_shard']:.2f}×"]))
    return out


def shard_overhead() -> list[str]:
    """The per-clip overhead of each pre-gate shard job (benchmarks/shard_overhead.py): the job's wall time, the
    fitted fixed part per clip, the per-frame slopes (by source; '—' below 1 ms), the job's own cost shared by
    the clips, and their sum."""
    r = _load("shard_overhead.json")
    n = r["clips"]
    out = [_row(["phase", "job wall", "fixed per clip", "per frame (by source)", f"job cost / {n}",
                 "overhead per clip"]), _rule(6)]
    for phase, p in r["phases"].items():
        slopes = list(p["per_frame_ms"].values())
        per_frame = "—" if max(slopes) < 1 else _span(slopes, ".1f") + " ms"
        shared = p["job_cost_s"] / p["clips"]
        if p["per_clip_intercept_s"] < 0:  # the fit went below zero: the overhead is at most the shared cost
            fixed = f"< 0 (fit: {_sign(format(p['per_clip_intercept_s'], '.2f'))} s)"
            overhead = f"< {math.ceil(shared * 100) / 100:.2f} s"
        else:
            fixed, overhead = f"{p['per_clip_intercept_s']:.3f} s", f"{p['per_clip_overhead_s']:.3f} s"
        out.append(_row([phase, f"{p['wall_s']:.1f} s", fixed, per_frame, f"{shared:.3f} s", overhead]))
    return out


FEATURES = {"face_mesh_inference": "face mesh (MediaPipe, incl. decoding the crop)", "audio_mel": "log-mel",
            "face_mesh": "mesh fill + smooth", "head_pose_motion": "head pose + motion",
            "blendshapes": "blendshapes", "face3dmm": "face3dmm", "video_latents": "video latents (default VAE)"}


def features_speed() -> list[str]:
    """Each feature extractor's speed as a multiple of real time on one core (benchmarks/features.py)."""
    speed = _load("features.json")["x_real_time"]

    def times(x: float) -> str:
        return f"{x:,.0f}×" if x >= 100 or x == int(x) else f"{x:.1f}×"

    return [_row([FEATURES.get(k, k) for k in speed]), _rule(len(speed)), _row([times(x) for x in speed.values()])]


def _sci(x: float) -> str:
    """A small difference as the parity table writes it: two significant digits (1.5e-4), 0 when exact."""
    if x == 0:
        return "0"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _version(reference: str) -> str:
    """'owner/name@<sha>' → 'name <8 hex>'; 'name version (owner/name)' → 'name version'."""
    if "@" in reference:
        repo, commit = reference.split("@", 1)
        return f"{repo.rsplit('/', 1)[-1]} {commit[:8]}"
    return reference.split(" (", 1)[0]


PARITY_NAMES = {"table": "table", "curve": "curve", "sync_d": "Sync-D", "sync_c": "Sync-C", "mu": "μ", "sigma": "Σ",
                "fvd": "FVD", "fid": "FID"}
MFCC_CASES = {"noise": "noise", "chirp": "chirp", "silence_gaps": "exact-zero gaps", "short": "300 samples",
              "odd_tail": "a partial last frame", "float_input": "float input", "speech": "speech"}


def parity() -> list[str]:
    """The metric parity tests' differences from their references (benchmarks/parity_report.py): max abs and max
    relative difference of each compared quantity (μ, Σ: the larger of the real and generated sides), as each
    test measures it."""
    r = _load("parity.json")
    tests = r["tests"]

    def diffs(t: dict, key: str) -> str:
        groups: dict[str, list[float]] = {}  # mu_real and mu_fake → μ
        for name, c in t["compared"].items():
            groups.setdefault(PARITY_NAMES.get(name) or PARITY_NAMES[name.rsplit("_", 1)[0]], []).append(c[key])
        return ", ".join(f"{g} {_sci(max(v))}" for g, v in groups.items())

    def fails(t: dict) -> str:
        return f" **fails: {'; '.join(t['failures'])}**" if t["failures"] else ""

    def offset(x: int) -> str:
        return _sign(f"{x:+d}")

    sync, sign, mfcc = (tests[k] for k in ("test_syncnet_pipeline_parity", "test_syncnet_offset_sign_parity",
                                           "test_mfcc_parity"))
    windows, offsets = sync["table_shape"]
    cases = {k: c for k, c in mfcc["cases"].items() if k in MFCC_CASES}
    worst_abs = max(cases, key=lambda k: cases[k]["compared"]["coefficients"]["max_abs"])
    worst_rel = max(cases, key=lambda k: cases[k]["compared"]["coefficients"]["max_rel"])
    signals = [MFCC_CASES[k] for k in cases if k not in ("float_input", "speech")]
    inputs = f"{len(signals)} synthetic signals: {', '.join(signals)}; float input"
    if "speech" in cases:
        inputs += f"; {cases['speech']['seconds']:.1f} s of real 16 kHz speech"
    fixture = mfcc["cases"]["syncnet_fixture"]["compared"]["coefficients"]
    out = [f"torch {r['torch']}, {r['threads']} thread{'s' if r['threads'] != 1 else ''}:", "",
           _row(["test", "reference (version)", "compared", "max abs diff", "max rel diff"]), _rule(5),
           _row(["`test_syncnet_pipeline_parity`",
                 f"{_version(sync['reference'])}, its `evaluate()` unchanged except I/O (ffmpeg, imread) and `.cuda()`",
                 f"state-dict names and shapes (hash); per-window distance table ({windows} × {offsets}); mean curve; "
                 "Sync-D; Sync-C; offset", diffs(sync, "max_abs"),
                 f"{diffs(sync, 'max_rel')}; offset equal (talkhead {offset(sync['offset_talkhead'])} = "
                 f"syncnet_python {offset(sync['offset_reference'])}, the sign convention){fails(sync)}"]),
           _row(["`test_syncnet_offset_sign_parity`",
                 f"the same `evaluate()`, its two forward passes returning chosen 16-d embeddings with the audio "
                 f"{sign['shift']} frames late", "curve, Sync-D, Sync-C, offset", diffs(sign, "max_abs"),
                 f"{diffs(sign, 'max_rel')}; offset talkhead {offset(sign['offset_talkhead'])} (audio late) = "
                 f"syncnet_python {offset(sign['offset_reference'])}{fails(sign)}"]),
           _row([f"`test_mfcc_parity` ({inputs}) and `test_mfcc_parity_with_the_syncnet_fixture`",
                 f"{mfcc['reference']}, live; for the fixture, the MFCC of syncnet_python's environment",
                 "all 13 × F coefficients",
                 f"{_sci(cases[worst_abs]['compared']['coefficients']['max_abs'])} ({MFCC_CASES[worst_abs]}); "
                 f"fixture {_sci(fixture['max_abs'])}",
                 f"{_sci(cases[worst_rel]['compared']['coefficients']['max_rel'])} of each cepstrum's range "
                 f"({MFCC_CASES[worst_rel]}); fixture {_sci(fixture['max_rel'])}{fails(mfcc)}"])]
    for key, ref, compared in (
            ("test_fvd_styleganv_parity", "{v}, `compute_fvd` + its metric loop unchanged, the detector replaced by "
             "the stand-in", "clips ({n} per side), mean, covariance, FVD"),
            ("test_fvd_latentsync_parity", "the same on frames 20–35 ({n} clips per side)", "as above"),
            ("test_fid_parity", "{v} `calculate_activation_statistics` + `calculate_frechet_distance`, unchanged",
             "mean, covariance, FID ({n} images per side)")):
        t = tests[key]
        n = t.get("clips_per_side", t.get("images_per_side"))
        out.append(_row([f"`{key}`", ref.format(v=_version(t["reference"]), n=n), compared.format(n=n),
                         diffs(t, "max_abs"), diffs(t, "max_rel") + fails(t)]))
    return out


def hubert_precision() -> list[str]:
    """float16 / bfloat16 HuBERT features against float32 per CPU model and oneDNN kernel family
    (benchmarks/hubert_precision.py): max abs, mean abs, max / the largest magnitude, correlation. A dtype's two
    kernel families share a row when their numbers print alike."""
    machines = _load("hubert_precision.json")["machines"]
    out = [_row(["machine, path", "max abs", "mean abs", "max / largest magnitude", "correlation"]), _rule(5)]
    notes = []
    for model in sorted(machines):
        m = machines[model]
        label = f"{model} ({'with' if m['amx_bf16'] else 'no'} AMX, {m['cores']} cores)"
        for dtype in ("bfloat16", "float16"):
            rows = {c["kernels"]: [f"{c['max_abs']:.3g}", f"{c['mean_abs']:.3g}", f"{c['max_rel']:.2g}",
                                   f"{c['r']:.6f}"] for c in m["cases"] if c["dtype"] == dtype}
            if len({tuple(v) for v in rows.values()}) == 1:
                rows = {" or ".join(rows): next(iter(rows.values()))}
            for kernels, cells in rows.items():
                path = {"default": "default kernels",
                        "AVX512_CORE": "`ONEDNN_MAX_CPU_ISA=AVX512_CORE`" + (" (no AMX)" if m["amx_bf16"] else "")
                        }.get(kernels, kernels.replace("AVX512_CORE", "`AVX512_CORE`"))
                out.append(_row([f"{label}, {dtype}, {path}", *cells]))
                label = "same machine"
        largest = max(c["largest_magnitude"] for c in m["cases"])
        notes.append(f"{model}: torch {m['torch']}, {m['threads']} thread{'s' if m['threads'] != 1 else ''}, "
                     f"{m['audio_s']:g} s of audio, float32 features up to {largest:.2f} in magnitude")
    return [*out, "", "; ".join(notes) + "."]


def lipsync_sanity() -> list[str]:
    """The features' lip-sync sanity on the accepted real fixture clips (benchmarks/lipsync_sanity.py): best-lag r
    of jawOpen and of the 3DMM jaw with the loudness, their lags, and the head's yaw range; a clip whose audio the
    gate shifted says so."""
    clips = _load("lipsync_sanity.json")["clips"]

    def lag(x: int) -> str:
        return _sign(f"{x:+d}") if x else "0"

    out = [_row(["clip", "jawOpen r", "lag", "face3dmm jaw r", "lag", "head yaw range"]), _rule(6)]
    for c in clips:
        shift = c["av_shift_frames"]
        name = c["clip"] + (f" (after the gate shifted its audio {shift} frames)" if shift else "")
        out.append(_row([name, _sign(f"{c['jaw_open_r']:.2f}"), lag(c["jaw_open_lag"]),
                         _sign(f"{c['face3dmm_jaw_r']:.2f}"), lag(c["face3dmm_jaw_lag"]),
                         f"{c['yaw_range_deg']:.1f}°"]))
    jaw_open, jaw = _span([c["jaw_open_r"] for c in clips], ".2f"), _span([c["face3dmm_jaw_r"] for c in clips], ".2f")
    return [*out, "", f"Over the {len(clips)} accepted clips: jawOpen r {jaw_open}, 3DMM jaw r {jaw}."]


def gaussians_train() -> list[str]:
    """Gaussian heads trained on one pinned core with one torch thread (benchmarks/gaussians_train.py): frames,
    Gaussians, held-out PSNR (init → after coarse → final), SSIM, LMD of the driven and the static head, and the
    training call's wall and CPU time with the 1-minute load average before → after it."""
    r = _load("gaussians_train.json")
    out = [_row(["run", "frames (train / held out)", "Gaussians", "held-out PSNR init → coarse → final",
                 "SSIM init → final", "LMD (static head)", "training: wall (CPU), load average before → after"]),
           _rule(7)]
    for run in r["runs"].values():
        m = run["metrics"]
        lmd = f"{m['lmd_mediapipe']:.4f} ({m['lmd_mediapipe_static']:.4f})" if "lmd_mediapipe" in m else "—"
        before, after = run["load_average_1min"]
        out.append(_row([run["label"], f"{m['frames_train']:,} / {m['frames_heldout']:,}", f"{m['gaussians']:,}",
                         f"{m['psnr_init']:.1f} → {m['psnr_coarse']:.1f} → {m['psnr']:.1f} dB",
                         f"{m['ssim_init']:.2f} → {m['ssim']:.2f}", lmd,
                         f"{run['wall_s']:.0f} s ({run['cpu_s']:.0f} s), {before:.1f} → {after:.1f}"]))
    gaps = {name: run["metrics"]["lmd_mediapipe"] / run["metrics"]["lmd_mediapipe_static"] - 1
            for name, run in r["runs"].items() if "lmd_mediapipe" in run["metrics"]}
    lmd = ", ".join(f"{name} {_sign(format(gap, '+.1%'))}" for name, gap in gaps.items())
    return [*out, "", f"LMD of the audio-driven head against the static head's (by `--runs` name): {lmd}. "
                      f"torch {r['torch']}, {r['threads']} thread, pinned to {r['pinned_cores']} core; {r['machine']}; "
                      f"{r['shared']}."]


TABLES: dict[str, Callable[[], list[str]]] = {
    "v3face_val_l1": v3face_val_l1, "motion_dit_eval": motion_dit_eval, "dvc_status": dvc_status,
    "report_scale": report_scale, "microalbert_eval": microalbert_eval, "dualforce_sizes": dualforce_sizes,
    "av_offset": av_offset, "scale_plan": scale_plan, "render_fps": render_fps, "preprocess": preprocess,
    "shard_overhead": shard_overhead, "features_speed": features_speed, "dualforce_eval": dualforce_eval,
    "speaking": speaking, "parity": parity, "hubert_precision": hubert_precision, "lipsync_sanity": lipsync_sanity,
    "gaussians_train": gaussians_train}


def render(text: str, where: str) -> str:
    """`text` with every generated block rewritten from its file."""
    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in TABLES:
            raise SystemExit(f"{where}: unknown generated table {name!r} (known: {sorted(TABLES)})")
        return match.group(1) + "\n".join(TABLES[name]()) + "\n" + match.group(4)

    return BLOCK.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    """CLI."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a table differs")
    parser.add_argument("docs", nargs="*", type=Path, help="markdown files (default: README.md and docs/*.md)")
    args = parser.parse_args(argv)
    stale = []
    for path in args.docs or [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        new = render(text, str(path))
        if new != text:
            stale.append(path)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    verb = "differ from their results files" if args.check else "rewritten"
    print(f"{len(stale)} doc(s) {verb}" + "".join(f"\n  {p}" for p in stale))
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())

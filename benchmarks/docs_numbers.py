"""Tables in docs/*.md generated from committed result files, so a quoted number always has a source.

    python benchmarks/docs_numbers.py           # rewrite every generated table (make docs-numbers)
    python benchmarks/docs_numbers.py --check   # exit 1, naming them, if a table differs from its file

A generated table sits between `<!-- numbers: NAME -->` and `<!-- /numbers -->` in a doc; NAME is a
renderer below, which reads a file under benchmarks/results/ (for the demo's models,
demo_eval.json, written by benchmarks/demo_eval.py after `make demo`). Prose around a table is
written by hand and should quote the table's numbers.
"""

from __future__ import annotations

import argparse
import json
import re
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


TABLES: dict[str, Callable[[], list[str]]] = {"v3face_val_l1": v3face_val_l1, "motion_dit_eval": motion_dit_eval,
                                             "dvc_status": dvc_status, "report_scale": report_scale,
                                             "microalbert_eval": microalbert_eval, "dualforce_sizes": dualforce_sizes}


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

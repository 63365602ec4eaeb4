"""Evaluating MicroAlbert on held-out text: agreement with its teacher, baselines, latency, affect probes.

- Agreement per axis (Pearson r, MAE) of the student against the teacher's scores on the test rows of
  targets.csv (sentences never trained or validated on, with their variants), over all of them and apart
  for the real sentences (chatterbot, demo, the user's files) and the generated ones (augmented, lexicon,
  template): a student that only learned the templates shows it in the real row.
- The constant baseline: the training rows' mean per axis (MAE; a constant has no correlation, r = 0).
- Latency on one thread of a `latency_tokens`-token sentence, batch 1: p50/p99 in ms over `latency_runs`
  calls, for torch and for the exported ONNX graph in onnxruntime (the tokenizer's time apart); written to
  latency.json, apart from the metrics, because timings are not reproducible.
- Probes: sentence pairs that obviously differ on one axis (happy vs sad, excited vs calm, commanding vs
  helpless), with whether the student orders each pair correctly; the full table goes to probes.csv.
- The emotion mapping: three sentences per emotion; how often `--emotion auto`'s label names it.
Metric names carry the teacher's name (`agreement_<teacher>`): they are agreement with that teacher, not
accuracy against human VAD ratings.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from talkhead.atomic import write_json
from talkhead.config import MicroalbertConfig
from talkhead.export.microalbert_onnx import ONNX_FILE, session
from talkhead.models.microalbert import load_model
from talkhead.models.microalbert_tokenizer import encode, load_tokenizer
from talkhead.train.microalbert import TextRows, agreement, predict, read_targets
from talkhead.vocab import VAD_AXES

log = logging.getLogger(__name__)

REAL_SOURCES = ("chatterbot", "demo", "file")
# (axis, the sentence that should score higher, the one that should score lower)
PROBES: tuple[tuple[str, str, str], ...] = (
    ("valence", "I am so happy today, everything is wonderful!", "I am so sad today, everything is awful."),
    ("valence", "Thank you, this is the best gift I have ever received.", "My dog died and I cannot stop crying."),
    ("valence", "We won the game, what a great team!", "We lost everything in the fire."),
    ("arousal", "Wow, this is incredible, hurry, let's go right now!", "Let's sit quietly and rest for a while."),
    ("arousal", "I am furious, I am shaking with rage!", "I feel calm and a little sleepy."),
    ("arousal", "Run, the building is on fire!", "It was a slow and peaceful evening."),
    ("dominance", "Do it right now, that is an order.", "Please help me, I don't know what to do."),
    ("dominance", "I am in charge here and I will decide.", "I feel weak and powerless."),
    ("dominance", "Follow my instructions exactly.", "There is nothing I can do about it."),
)

# Sentences written for the emotion mapping's check (3 per emotion; not used to choose the mapping): does
# --emotion auto's label (talkhead.infer.vad.emotion_label, calibrated) name the emotion a reader would?
EMOTION_SENTENCES: dict[str, tuple[str, ...]] = {
    "anger": ("Stop lying to me, I have had enough of your excuses!", "How dare you touch my things without asking!",
              "I am so angry I could scream at all of you."),
    "contempt": ("Your little project is a joke, as usual.",
                 "I expected nothing from you and you still disappointed me.",
                 "People like you never understand anything."),
    "disgust": ("The food was rotten and full of worms.", "That smell makes me sick to my stomach.",
                "Ew, there is hair in my soup, that is revolting."),
    "fear": ("I hear footsteps behind me and I am afraid to turn around.",
             "What if the plane crashes, I am so nervous.",
             "Help, the water is rising and I cannot get out!"),
    "happiness": ("We just got engaged and I am over the moon!", "This is the best birthday party ever, thank you all!",
                  "I passed my exam and I feel fantastic."),
    "neutral": ("The report is on the second shelf.", "Turn left at the next corner.",
                "The train leaves at half past nine."),
    "sadness": ("My grandmother passed away this morning.", "I feel so lonely since you moved away.",
                "We lost the house and I don't know where to go."),
    "surprise": ("Oh my goodness, you came all this way to see me!", "I can't believe it, you won the lottery?",
                 "Wait, what? The concert is tonight?"),
}


def latency_ms(run, runs: int, warmup: int = 20) -> dict[str, float]:
    """p50 / p99 / mean wall time in ms of `run()` over `runs` calls after `warmup`."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    t = np.array(times)
    return {"p50_ms": round(float(np.percentile(t, 50)), 4), "p99_ms": round(float(np.percentile(t, 99)), 4),
            "mean_ms": round(float(t.mean()), 4)}


def _sentence_of(tok, tokens: int) -> str:
    """An English sentence that encodes to exactly `tokens` ids ([CLS] and [SEP] included) or the nearest below."""
    words = ("please tell me how you feel about the long journey we took together last summer near the sea and "
             "whether you would like to go back there again with all of our friends and family next year").split()
    text = ""
    for n in range(1, len(words) + 1):
        candidate = " ".join(words[:n])
        if len(tok.encode(candidate).ids) > tokens:
            break
        text = candidate
    while len(tok.encode(text).ids) < tokens:  # a tokenizer with long pieces: pad with words until the length
        text += " yes"
    return text


def measure_latency(model, tok, onnx_path: Path | None, tokens: int, runs: int) -> dict:
    """One-thread latency of one `tokens`-token sentence: torch, ONNX (when exported), and the tokenizer alone."""
    text = _sentence_of(tok, tokens)
    ids, mask = encode(tok, [text], tokens)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ti, tm = torch.from_numpy(ids), torch.from_numpy(mask)
        with torch.no_grad():
            out = {"tokens": int(ids.shape[1]), "torch": latency_ms(lambda: model(ti, tm), runs)}
    finally:
        torch.set_num_threads(threads)
    if onnx_path is not None and onnx_path.is_file():
        sess = session(onnx_path, threads=1)
        feeds = {"input_ids": ids, "attention_mask": mask}
        out["onnxruntime"] = latency_ms(lambda: sess.run(["vad"], feeds), runs)
    out["tokenizer"] = latency_ms(lambda: encode(tok, [text], tokens), runs)
    return out


def probe_table(model, tok, max_tokens: int) -> pd.DataFrame:
    """One row per probe pair: the axis, both sentences, both scores, whether the order is right."""
    rows = []
    for axis, high, low in PROBES:
        ids, mask = encode(tok, [high, low], max_tokens)
        with torch.no_grad():
            vad = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        i = VAD_AXES.index(axis)
        rows.append({"axis": axis, "higher": high, "lower": low, "score_higher": round(float(vad[0, i]), 4),
                     "score_lower": round(float(vad[1, i]), 4), "ordered": bool(vad[0, i] > vad[1, i])})
    return pd.DataFrame(rows)


def emotion_check(model, tok, max_tokens: int, calibration) -> dict:
    """How often the calibrated VAD → label mapping names each EMOTION_SENTENCES emotion (and in all)."""
    from talkhead.infer.vad import emotion_label

    hits = {}
    for emotion, sentences in EMOTION_SENTENCES.items():
        ids, mask = encode(tok, list(sentences), max_tokens)
        with torch.no_grad():
            vad = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        hits[emotion] = sum(emotion_label(v, calibration) == emotion for v in vad)
    total = sum(len(s) for s in EMOTION_SENTENCES.values())
    return {"emotion_label_accuracy": round(sum(hits.values()) / total, 4), "emotion_sentences": total,
            "emotion_label_hits": hits, "chance": round(1 / len(EMOTION_SENTENCES), 4)}


def evaluate(model_dir: Path, targets: Path, export_dir: Path | None, cfg: MicroalbertConfig, out: Path) -> dict:
    """Write out/metrics.json (DVC metrics: agreement, baseline, probes), out/latency.json (timings: they differ
    from run to run, so they are kept apart from what a rerun must reproduce) and out/probes.csv; return both
    ({**metrics, "latency_1thread": …})."""
    out.mkdir(parents=True, exist_ok=True)
    model, meta = load_model(model_dir)
    tok = load_tokenizer(model_dir)
    max_tokens = int(meta["spec"]["max_tokens"])
    table = read_targets(targets)
    test, train_rows = table[table["split"] == "test"], table[table["split"] == "train"]
    if test.empty:
        raise ValueError(f"{targets}: no test rows (microalbert.test_fraction)")
    constant = train_rows[list(VAD_AXES)].mean().to_numpy(np.float32)
    device = torch.device("cpu")
    teacher = meta.get("teacher", "unknown")
    groups = {"all": test, "real": test[test["source"].isin(REAL_SOURCES)],
              "generated": test[~test["source"].isin(REAL_SOURCES)]}
    agreement_rows = {}
    for name, rows in groups.items():
        if rows.empty:
            continue
        data = TextRows(tok, rows, max_tokens)
        student = agreement(predict(model, data, device), data.target)
        base = agreement(np.broadcast_to(constant, data.target.shape).copy(), data.target)
        agreement_rows[name] = {"rows": len(rows), "student": student,
                                "constant_baseline": {a: {"pearson_r": 0.0, "mae": base[a]["mae"]} for a in VAD_AXES}}
    probes = probe_table(model, tok, max_tokens)
    tmp = out / "probes.csv.tmp"
    probes.to_csv(tmp, index=False)
    tmp.replace(out / "probes.csv")
    onnx_path = export_dir / ONNX_FILE if export_dir is not None else None
    from talkhead.infer.vad import calibration_of

    metrics = {"teacher": teacher, "parameters": int(meta["parameters"]), "size": meta["spec_name"],
               f"agreement_{_key(teacher)}": agreement_rows,
               "probes_ordered": int(probes["ordered"].sum()), "probes": len(probes),
               "emotion_mapping": emotion_check(model, tok, max_tokens, calibration_of(meta))}
    latency = {"latency_1thread": measure_latency(model, tok, onnx_path, cfg.latency_tokens, cfg.latency_runs)}
    write_json(out / "metrics.json", metrics)
    write_json(out / "latency.json", latency)
    return metrics | latency


def summary(metrics: dict) -> str:
    """A few lines for the log: agreement per row group, latency, probes."""
    return _summary(metrics, metrics["teacher"])


def _key(teacher: str) -> str:
    """A metric-name-safe form of the teacher's name."""
    return "".join(c if c.isalnum() else "_" for c in teacher).strip("_")


def _summary(metrics: dict, teacher: str) -> str:
    """A few lines for the log and the report."""
    lines = [f"MicroAlbert ({metrics['size']}, {metrics['parameters']:,} parameters) vs teacher {teacher}:"]
    for name, row in metrics[f"agreement_{_key(teacher)}"].items():
        s, b = row["student"], row["constant_baseline"]
        lines.append(f"  {name} ({row['rows']} rows): " + ", ".join(
            f"{a} r {s[a]['pearson_r']:.3f} MAE {s[a]['mae']:.3f} (constant MAE {b[a]['mae']:.3f})" for a in VAD_AXES))
    lat = metrics["latency_1thread"]
    lines.append(f"  latency ({lat['tokens']} tokens, 1 thread): torch p50 {lat['torch']['p50_ms']:.2f} ms, "
                 f"p99 {lat['torch']['p99_ms']:.2f} ms" + (
                     f"; onnxruntime p50 {lat['onnxruntime']['p50_ms']:.2f} ms, "
                     f"p99 {lat['onnxruntime']['p99_ms']:.2f} ms"
                     if "onnxruntime" in lat else ""))
    lines.append(f"  probe pairs ordered: {metrics['probes_ordered']}/{metrics['probes']}; VAD → emotion label right "
                 f"for {metrics['emotion_mapping']['emotion_label_accuracy']:.0%} of "
                 f"{metrics['emotion_mapping']['emotion_sentences']} sentences (chance "
                 f"{metrics['emotion_mapping']['chance']:.0%})")
    return "\n".join(lines) + "\n"

"""Distilling MicroAlbert: the corpus scored by the teacher, then the student trained on those scores.

Two steps, two rules (phase train_microalbert):
1. `label_corpus`: build the unlabeled corpus (talkhead.data.text_corpus) and score every row with the
   teacher (talkhead.features.vad_teacher) → targets.csv (text, source, base, split, valence, arousal,
   dominance) + teacher.json (the teacher's name, row counts). The teacher's cost is paid once.
2. `train`: learn a WordPiece tokenizer from the training rows, then the student on the teacher's scores
   (`loss` mse or kl at a temperature, soft or hard targets), AdamW with linear warm-up and cosine decay.
   After each epoch: Pearson r and MAE per axis against the teacher on the validation rows; the best epoch
   is the one with the highest mean r (score 1 − mean r). The folder is written like every talkhead trainer's
   (talkhead.train.harness): config.json, tokenizer.json, best.safetensors, metrics.csv (a DVC plot),
   metrics.json; last/state.safetensors + state.json let an interrupted run resume with identical results.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from talkhead.atomic import atomic_path, write_json, write_text
from talkhead.config import ConfigError, MicroalbertConfig
from talkhead.data.text_corpus import build_corpus
from talkhead.features.vad_teacher import make_teacher
from talkhead.models.microalbert import (MAX_PARAMETERS, MICROALBERT_SIZES, MODEL_FORMAT, MicroAlbert,
                                         parameter_count)
from talkhead.models.checkpoint import file_digest
from talkhead.models.microalbert_tokenizer import TOKENIZER_FILE, token_rows, train_tokenizer
from talkhead.train.harness import EpochResult, fresh_state, run_epochs, run_fingerprint, seeded_run
from talkhead.train.run_files import resume_run
from talkhead.vocab import VAD_AXES

log = logging.getLogger(__name__)

TARGETS_FILE, TEACHER_FILE, EMBEDDINGS_FILE = "targets.csv", "teacher.json", "embeddings.npy"
WARMUP = 0.05  # share of all steps spent warming the learning rate up
CSV_HEADER = "epoch,train_loss," + ",".join(f"val_r_{a}" for a in VAD_AXES) + ",val_mae\n"
EVAL_BATCH = 256


def label_corpus(cfg: MicroalbertConfig, out_dir: Path) -> dict:
    """Build the corpus, score it with the teacher, write targets.csv and teacher.json; a summary."""
    t0 = time.monotonic()
    out_dir.mkdir(parents=True, exist_ok=True)
    table = build_corpus(cfg.corpus_files, cfg.augment_per_sentence, cfg.template_sentences, cfg.val_fraction,
                         cfg.test_fraction, cfg.seed, cfg.lexicon_words)
    if (table["split"] == "train").sum() < 10 or (table["split"] == "val").sum() < 2:
        raise ConfigError(f"microalbert: the corpus has {len(table)} rows, too few to split into train and val")
    teacher = make_teacher(cfg.teacher_checkpoint, cfg.teacher_outputs, cfg.teacher_map, cfg.teacher_scale,
                           cfg.device)
    texts = table["text"].tolist()
    if hasattr(teacher, "score_and_embed"):
        scores, emb = teacher.score_and_embed(texts)  # (N, 3) in [0, 1], (N, D)
        with atomic_path(out_dir / EMBEDDINGS_FILE, suffix=".npy") as tmp:
            np.save(tmp, emb.astype(np.float16))
    else:
        scores = teacher.score(texts)
        (out_dir / EMBEDDINGS_FILE).unlink(missing_ok=True)
    for i, axis in enumerate(VAD_AXES):
        table[axis] = np.round(scores[:, i].astype(np.float64), 6)
    tmp = out_dir / (TARGETS_FILE + ".tmp")
    table.to_csv(tmp, index=False)
    tmp.replace(out_dir / TARGETS_FILE)
    counts = {f"{split}/{source}": int(n) for (split, source), n in table.groupby(["split", "source"]).size().items()}
    summary = {"teacher": teacher.name, "rows": len(table), "counts": counts,
               "mean": {a: round(float(table[a].mean()), 4) for a in VAD_AXES},
               "std": {a: round(float(table[a].std()), 4) for a in VAD_AXES}}
    write_json(out_dir / TEACHER_FILE, summary)  # no timing in the file: a rerun writes the same bytes
    return summary | {"seconds": round(time.monotonic() - t0, 1)}


def read_targets(path: Path) -> pd.DataFrame:
    """targets.csv, checked for its columns."""
    table = pd.read_csv(path, keep_default_na=False)
    missing = {"text", "source", "split", *VAD_AXES} - set(table.columns)
    if missing:
        raise ConfigError(f"{path}: not a MicroAlbert targets file (missing {', '.join(sorted(missing))})")
    return table


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of two 1-D arrays; 0 when either is constant (a constant predicts no ordering)."""
    a, b = a - a.mean(), b - b.mean()
    den = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else 0.0


def agreement(pred: np.ndarray, target: np.ndarray) -> dict[str, dict[str, float]]:
    """Per axis: Pearson r and MAE of (N, 3) predictions against the teacher's (N, 3) scores."""
    return {axis: {"pearson_r": round(pearson(pred[:, i], target[:, i]), 4),
                   "mae": round(float(np.abs(pred[:, i] - target[:, i]).mean()), 4)} for i, axis in enumerate(VAD_AXES)}


class TextRows:
    """Tokenised rows of one split and their targets."""

    def __init__(self, tok, table: pd.DataFrame, max_tokens: int, embeddings: np.ndarray | None = None) -> None:
        self.texts = table["text"].tolist()
        self.target = table[list(VAD_AXES)].to_numpy(np.float32)  # (N, 3)
        # (N, D) the teacher's sentence embeddings of these rows, or None
        self.embeddings = None if embeddings is None else embeddings[table.index.to_numpy()].astype(np.float32)
        self.rows = token_rows(tok, self.texts, max_tokens)

    def bucketed(self, rng: np.random.Generator, batch_size: int, window: int = 50) -> list[np.ndarray]:
        """An epoch's batches: a random order of the rows, each run of `window` batches sorted by length (less
        padding), the batches shuffled. Every row once; a function of `rng` only; always as many batches."""
        order = rng.permutation(len(self.rows))
        chunk = window * batch_size
        runs = [sorted(order[i:i + chunk], key=lambda r: len(self.rows[r])) for i in range(0, len(order), chunk)]
        batches = [run[i:i + batch_size] for run in runs for i in range(0, len(run), batch_size)]
        return [np.asarray(batches[i]) for i in rng.permutation(len(batches))]

    def batch(self, index: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(ids (B, L), mask (B, L), target (B, 3)) of rows `index`, padded to the longest (the rows' teacher
        embeddings: `embedding_batch`)."""
        width = max(len(self.rows[i]) for i in index)
        ids = torch.zeros((len(index), width), dtype=torch.long)
        mask = torch.zeros((len(index), width), dtype=torch.long)
        for j, i in enumerate(index):
            r = self.rows[i]
            ids[j, :len(r)], mask[j, :len(r)] = torch.tensor(r), 1
        return ids, mask, torch.from_numpy(self.target[index])

    def embedding_batch(self, index: np.ndarray) -> torch.Tensor | None:
        """(B, D) teacher embeddings of rows `index`, or None without them."""
        return None if self.embeddings is None else torch.from_numpy(self.embeddings[index])


def distillation_loss(logits: torch.Tensor, target: torch.Tensor, cfg: MicroalbertConfig) -> torch.Tensor:
    """The student's loss on (B, 3) logits against the teacher's (B, 3) scores in [0, 1]."""
    if not cfg.soft_labels:
        target = (target > 0.5).float()
    if cfg.loss == "mse":
        return F.mse_loss(torch.sigmoid(logits), target)
    t = cfg.temperature  # kl: Bernoulli KL per axis between the softened teacher and student, × T² (Hinton et al.)
    p = target.clamp(1e-4, 1 - 1e-4)
    p_t = torch.sigmoid(torch.logit(p) / t)
    entropy = -(p_t * p_t.log() + (1 - p_t) * (1 - p_t).log())
    return t * t * (F.binary_cross_entropy_with_logits(logits / t, p_t, reduction="none") - entropy).mean()


@torch.no_grad()
def predict(model: MicroAlbert, data: TextRows, device: torch.device) -> np.ndarray:
    """(N, 3) student outputs for every row of `data`."""
    model.eval()
    out = []
    for start in range(0, len(data.rows), EVAL_BATCH):
        ids, mask, _ = data.batch(np.arange(start, min(start + EVAL_BATCH, len(data.rows))))
        out.append(model(ids.to(device), mask.to(device)).float().cpu().numpy())
    return np.concatenate(out)


def _lr(cfg: MicroalbertConfig, step: int, total: int) -> float:
    """Linear warm-up over WARMUP of the steps, then cosine decay to 0."""
    warm = max(1, int(WARMUP * total))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def _write_metrics(out_dir: Path, state: dict, teacher: str) -> None:
    rows = state["history"]
    write_text(out_dir / "metrics.csv", CSV_HEADER + "".join(
        f"{r['epoch']},{r['train_loss']:.6f}," + ",".join(f"{r[f'val_r_{a}']:.6f}" for a in VAD_AXES)
        + f",{r['val_mae']:.6f}\n" for r in rows))
    best = rows[state["best_epoch"] - 1] if state["best_epoch"] else rows[-1]
    write_json(out_dir / "metrics.json", {**rows[-1], "best_epoch": state["best_epoch"],
                                          "best_val_mean_r": round(1 - state["best"], 6),
                                          "best": {k: v for k, v in best.items() if k.startswith("val_")},
                                          "teacher": teacher})


def train(targets: Path, cfg: MicroalbertConfig, out_dir: Path) -> dict:
    """Train the student into `out_dir` (resuming an interrupted run); a summary."""
    t0 = time.monotonic()
    targets, out_dir = Path(targets), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.size not in MICROALBERT_SIZES:
        raise ConfigError(f"microalbert.size {cfg.size!r} not in {sorted(MICROALBERT_SIZES)}")
    spec = MICROALBERT_SIZES[cfg.size]
    table = read_targets(targets)
    teacher = _teacher_name(targets)
    train_rows, val_rows = table[table["split"] == "train"], table[table["split"] == "val"]
    if len(train_rows) < 10 or len(val_rows) < 2:
        raise ConfigError(f"{targets}: {len(train_rows)} train / {len(val_rows)} val rows; too few to train on")
    tok = train_tokenizer(train_rows["text"], cfg.vocab_size)
    tok.save(str(out_dir / TOKENIZER_FILE))
    device = torch.device(cfg.device)
    embeddings = _teacher_embeddings(targets, len(table)) if cfg.embedding_weight > 0 else None
    teacher_dim = 0 if embeddings is None else int(embeddings.shape[1])
    with seeded_run(cfg.seed):
        train_data = TextRows(tok, train_rows, spec.max_tokens, embeddings)
        val_data = TextRows(tok, val_rows, spec.max_tokens)
        model = MicroAlbert(spec, tok.get_vocab_size(), cfg.dropout, teacher_dim).to(device)
        n_params = parameter_count(model)
        if n_params > MAX_PARAMETERS:
            raise ConfigError(f"microalbert: {n_params:,} parameters exceed the student's budget of {MAX_PARAMETERS:,} "
                              "(lower size or vocab_size)")
        arch = {"format": MODEL_FORMAT, "spec_name": cfg.size, "spec": spec.to_dict(),
                "vocab_size": tok.get_vocab_size(), "dropout": cfg.dropout, "parameters": n_params,
                "teacher_dim": teacher_dim,
                # the teacher's scores over the training rows: where "typical" lies on each axis (infer.vad maps
                # VAD to emotions relative to it)
                "vad_mean": [round(float(v), 6) for v in train_data.target.mean(0)],
                "vad_std": [round(float(v), 6) for v in train_data.target.std(0)],
                "axes": list(VAD_AXES), "teacher": teacher, "targets": file_digest([targets])}
        write_json(out_dir / "config.json", arch | {"train": dataclasses.asdict(cfg)})
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.01)
        steps = len(train_data.bucketed(np.random.default_rng(0), cfg.batch_size))
        # epochs included: the learning-rate schedule spans them, so a run is resumed only with the same count
        fingerprint = run_fingerprint(cfg, ignore=(), targets=arch["targets"],
                                      vocab=file_digest([out_dir / TOKENIZER_FILE]), embeddings=teacher_dim)
        state = resume_run(out_dir, fingerprint, model, opt) or fresh_state(fingerprint)

        def run_epoch(epoch: int) -> EpochResult:
            model.train()
            batches = train_data.bucketed(np.random.default_rng([cfg.seed, 24, epoch]), cfg.batch_size)
            total = 0.0
            for step, index in enumerate(batches):
                for group in opt.param_groups:
                    group["lr"] = _lr(cfg, epoch * steps + step, cfg.epochs * steps)
                ids, mask, target = train_data.batch(index)
                pooled = model.pooled(ids.to(device), mask.to(device))
                loss = distillation_loss(model.head(pooled), target.to(device), cfg)
                emb = train_data.embedding_batch(index)
                if emb is not None:  # representation distillation: imitate the teacher's sentence embedding
                    cos = F.cosine_similarity(model.teacher_head(pooled), emb.to(device), dim=-1)
                    loss = loss + cfg.embedding_weight * (1 - cos).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                total += loss.item()
            scores = agreement(predict(model, val_data, device), val_data.target)
            row = {"train_loss": total / steps, **{f"val_r_{a}": scores[a]["pearson_r"] for a in VAD_AXES},
                   "val_mae": float(np.mean([scores[a]["mae"] for a in VAD_AXES]))}
            mean_r = float(np.mean([scores[a]["pearson_r"] for a in VAD_AXES]))
            rs = ", ".join(f"{a[0].upper()} {scores[a]['pearson_r']:.3f}" for a in VAD_AXES)
            return EpochResult(row, 1.0 - mean_r,
                               f"train {row['train_loss']:.4f}, val r {rs}, MAE {row['val_mae']:.4f}")

        state, resumed = run_epochs(out_dir, state, cfg.epochs, "microalbert", run_epoch, lambda: (model, opt),
                                    lambda st: _write_metrics(out_dir, st, teacher))
    return {"epochs": cfg.epochs, "resumed_after": resumed, "rows": len(train_data.rows), "parameters": n_params,
            "best_epoch": state["best_epoch"], "best_val_mean_r": round(1 - state["best"], 4),
            "seconds": time.monotonic() - t0}


def _teacher_embeddings(targets: Path, rows: int) -> np.ndarray | None:
    """(rows, D) float16 teacher embeddings saved beside targets.csv, or None (a teacher without them)."""
    path = Path(targets).parent / EMBEDDINGS_FILE
    if not path.is_file():
        return None
    emb = np.load(path)
    if emb.shape[0] != rows:
        raise ConfigError(f"{path}: {emb.shape[0]} rows, targets.csv has {rows}; run microalbert_targets again")
    return emb


def _teacher_name(targets: Path) -> str:
    """The teacher named in teacher.json beside targets.csv ('unknown' without one)."""
    import json

    path = Path(targets).parent / TEACHER_FILE
    return json.loads(path.read_text(encoding="utf-8")).get("teacher", "unknown") if path.is_file() else "unknown"

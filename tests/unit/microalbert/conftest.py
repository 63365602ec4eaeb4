"""MicroAlbert as `make demo` distils it (once per session, ~3–4 min on 2 cores), and a tiny targets file."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from talkhead.config import MicroalbertConfig, load_params
from talkhead.vocab import VAD_AXES

# The demo's own configuration (params.yaml): the tests of `talkhead vad` judge the student users get. A cheaper
# one (no augmented variants, 1,500 templates, 6–8 epochs, ~1 min) misordered 1–2 of the 9 pairs of
# test_microalbert_use.py, so it would test a weaker model than the one shipped.
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def student(tmp_path_factory) -> SimpleNamespace:
    """targets/ (corpus + teacher scores), model/ (the trained student), export/ (ONNX + an int8 copy)."""
    from talkhead.export.microalbert_onnx import export_microalbert
    from talkhead.train.microalbert import label_corpus, train

    root = tmp_path_factory.mktemp("microalbert")
    params = load_params(REPO / "params.yaml")["microalbert"]
    cfg = MicroalbertConfig.from_dict({**params, "latency_runs": 30})
    label_corpus(cfg, root / "targets")
    train(root / "targets" / "targets.csv", cfg, root / "model")
    export_microalbert(root / "model", root / "export", quantize_above_mb=0.0)  # 0: the int8 copy is made too
    return SimpleNamespace(cfg=cfg, targets=root / "targets" / "targets.csv", model=root / "model",
                           export=root / "export")


@pytest.fixture(scope="session")
def write_targets():
    """The function that writes a synthetic targets.csv (_write_targets)."""
    return _write_targets


def _write_targets(path: Path, n: int = 240, seed: int = 0) -> Path:
    """A synthetic targets.csv: short sentences whose valence rises with 'good', arousal with '!' and dominance
    with 'must' (a teacher a tiny student can learn quickly); splits 70/15/15."""
    rng = np.random.default_rng(seed)
    words = ["the", "day", "was", "we", "see", "it", "a", "plan", "for", "you", "they", "go", "now", "then"]
    rows = []
    for i in range(n):
        good, loud, must = rng.integers(0, 3, size=3)
        body = list(rng.choice(words, size=int(rng.integers(3, 8)))) + ["good"] * good + ["must"] * must
        rng.shuffle(body)
        text = " ".join(body) + "!" * loud
        vad = (0.2 + 0.3 * good, 0.2 + 0.3 * loud, 0.2 + 0.3 * must)
        split = "train" if i % 20 < 14 else "val" if i % 20 < 17 else "test"
        rows.append({"text": text, "source": "chatterbot" if i % 2 else "template", "base": text, "split": split,
                     **dict(zip(VAD_AXES, vad))})
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    (path.parent / "teacher.json").write_text('{"teacher": "synthetic"}', encoding="utf-8")
    return path

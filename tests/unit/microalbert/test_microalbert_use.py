"""The trained student in use: ONNX export, evaluation, `talkhead vad`, and --emotion auto for the faces."""

import json

import numpy as np
import torch

from talkhead.cli import main
from talkhead.eval.microalbert import evaluate
from talkhead.infer import v3face
from talkhead.infer.vad import VadPredictor, calibrated, emotion_label, emotion_weights
from talkhead.vocab import EMOTION_VAD, EMOTIONS, VAD_AXES

# Pairs written for this test (not the evaluation's probes): (axis, should score higher, should score lower)
PAIRS = [
    ("valence", "What a lovely surprise, I am delighted to see you all!", "This is the worst news I have ever heard."),
    ("valence", "I love my new home, it is bright and beautiful.", "I hate this place, it is dirty and depressing."),
    ("valence", "Congratulations on your wedding, I am so glad for you.", "I failed again and I feel miserable."),
    ("arousal", "Hurry, hurry, the train is leaving right now!", "The lake was calm and the evening was quiet."),
    ("arousal", "I am screaming with excitement, we won the final!", "I am tired and I want to sleep."),
    ("arousal", "Watch out, there is a fire, get out now!", "Let us relax and drink some tea slowly."),
    ("dominance", "Sit down and listen, I am the one who decides here.", "I am scared and I cannot do anything."),
    ("dominance", "You will finish this report by tonight, no excuses.", "Please, I beg you, help me, I am lost."),
    ("dominance", "I am strong and nothing can stop me.", "I feel small, weak and completely helpless."),
]


def _vad(capsys, text: str, model) -> dict:
    assert main(["vad", "--text", text, "--model", str(model)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    return json.loads(out[0])


def test_talkhead_vad_orders_obvious_pairs(student, capsys):
    wrong = []
    for axis, high, low in PAIRS:
        a, b = _vad(capsys, high, student.model), _vad(capsys, low, student.model)
        assert set(a) == set(VAD_AXES) and all(0 <= v <= 1 for v in a.values())
        if not a[axis] > b[axis]:
            wrong.append((axis, high, a[axis], low, b[axis]))
    assert not wrong, wrong


def test_onnx_export_matches_torch_and_has_an_int8_copy(student):
    record = json.loads((student.export / "export.json").read_text())
    assert record["max_abs_diff_vs_torch"] <= 1e-4 and record["int8"] == "microalbert.int8.onnx"
    assert ((student.export / "microalbert.int8.onnx").stat().st_size
            < (student.export / "microalbert.onnx").stat().st_size)
    texts = [p[1] for p in PAIRS] + ["Hi", "word " * 200]  # lengths the export never saw, one truncated
    torch_out = VadPredictor(student.model).predict(texts)
    onnx_out = VadPredictor(student.export / "microalbert.onnx").predict(texts)
    assert onnx_out.shape == (len(texts), 3)
    np.testing.assert_allclose(onnx_out, torch_out, atol=1e-4)
    int8 = VadPredictor(student.export / "microalbert.int8.onnx").predict(texts)
    assert np.abs(int8 - torch_out).max() < 0.1  # quantised weights: close, not equal


def test_evaluation_reports_agreement_baseline_and_latency(student, tmp_path):
    m = evaluate(student.model, student.targets, student.export, student.cfg, tmp_path)
    rows = m["agreement_minilm_axes_vader"]
    assert set(rows) == {"all", "real", "generated"} and rows["all"]["rows"] == rows["real"]["rows"] + rows[
        "generated"]["rows"]
    for axis in VAD_AXES:
        assert rows["all"]["student"][axis]["mae"] < rows["all"]["constant_baseline"][axis]["mae"]
        assert rows["all"]["student"][axis]["pearson_r"] > 0.3
    lat = m["latency_1thread"]
    assert lat["tokens"] == 32 and 0 < lat["torch"]["p50_ms"] <= lat["torch"]["p99_ms"]
    assert "onnxruntime" in lat and (tmp_path / "probes.csv").is_file()
    saved = json.loads((tmp_path / "metrics.json").read_text()) | json.loads((tmp_path / "latency.json").read_text())
    assert saved == m


def test_vad_maps_to_the_emotions():
    for name, point in EMOTION_VAD.items():
        weights = emotion_weights(dict(zip(VAD_AXES, point)))
        assert emotion_label(np.array(point)) == name and abs(sum(weights.values()) - 1) < 1e-9
    assert set(emotion_weights(np.full(3, 0.5))) == set(EMOTIONS) - {"none"}
    typical = (np.array([0.47, 0.45, 0.48]), np.array([0.17, 0.15, 0.11]))  # a teacher's mean and spread
    assert emotion_label(typical[0], typical) == "neutral"  # a typical text is neutral, wherever typical lies
    np.testing.assert_allclose(calibrated(typical[0] + 2 * typical[1], typical), 1.0)  # +2 std: the top
    table = np.random.default_rng(0).normal(size=(len(EMOTIONS), 6)).astype(np.float32)
    assert np.array_equal(v3face.cond_vector(table, "happiness"), table[EMOTIONS.index("happiness")])
    np.testing.assert_allclose(v3face.cond_vector(table, {"happiness": 1.0, "sadness": 1.0}),
                               (table[EMOTIONS.index("happiness")] + table[EMOTIONS.index("sadness")]) / 2, atol=1e-6)


def test_v3face_takes_an_emotion_mix():
    from talkhead.models.v3face import V3FACE_SIZES, V3Face

    torch.manual_seed(0)
    model = V3Face(V3FACE_SIZES["tiny"], 80, 4, 4, 1).eval()
    audio = torch.randn(4 * 20, 80, generator=torch.Generator().manual_seed(1))
    label = v3face.run_model(model, audio, "anger")
    np.testing.assert_allclose(v3face.run_model(model, audio, {"anger": 1.0}), label, atol=1e-6)
    assert not np.allclose(v3face.run_model(model, audio, {"anger": 0.5, "happiness": 0.5}), label, atol=1e-4)


def test_emotion_auto_reads_the_text(student, tmp_path, monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(v3face, "predict_model", lambda model, mel, emotion: seen.append(emotion) or
                        np.full((len(mel) // 4, 52), 0.5, np.float32))
    model = tmp_path / "v3"
    model.mkdir()
    (model / "config.json").write_text("{}")
    args = ["blendshapes", "--threads", "1", "--out", str(tmp_path / "x.csv"), "--model", str(model)]
    text = "I am furious, get out of my house right now!"
    assert main([*args, "--text", text, "--emotion", "auto", "--vad-model", str(student.model)]) == 0
    weights = seen[-1]
    assert isinstance(weights, dict) and abs(sum(weights.values()) - 1) < 1e-6
    predictor = VadPredictor(student.model)
    assert predictor.calibration is not None
    assert weights == emotion_weights(predictor.vad(text), predictor.calibration)
    assert (tmp_path / "x.csv").read_text().count("\n") > 10  # the text was spoken and mapped to frames
    capsys.readouterr()
    assert main([*args, "--audio", str(tmp_path / "x.csv"), "--emotion", "auto"]) == 2  # no text to read
    assert "--transcript" in capsys.readouterr().err
    assert main([*args, "--text", text, "--emotion", "auto", "--vad-model", str(tmp_path / "none")]) == 2
    assert main(["vad", "--text", "  ", "--model", str(student.model)]) == 2
    assert main(["vad", "--text", "hello", "--model", str(tmp_path / "none")]) == 2


def test_generate_auto_passes_the_nearest_label(student, tmp_path, monkeypatch):
    from talkhead.infer import generate

    seen = []
    monkeypatch.setattr(generate, "generate_video", lambda req: seen.append(req.emotion) or {"frames": 1})
    image = tmp_path / "face.png"
    image.write_bytes(b"not decoded: generate_video is replaced")
    text = "I am so sad, everything is lost and I cannot stop crying."
    assert main(["generate", "--threads", "1", "--image", str(image), "--text", text, "--out", str(tmp_path / "o.mp4"),
                 "--emotion", "auto", "--vad-model", str(student.model)]) == 0
    predictor = VadPredictor(student.model)
    assert seen == [emotion_label(predictor.vad(text), predictor.calibration)]

"""MicroAlbert → ONNX: token ids and attention mask in, VAD out, dynamic batch and sequence length.

The graph holds the network only (the tokenizer.json ships beside it: ids come from
talkhead.models.microalbert_tokenizer.encode). Exported with the legacy TorchScript exporter (clean
`dynamic_axes`, no onnxscript), checked against torch in onnxruntime on sentences of several lengths and
batch sizes (max abs difference ≤ MAX_DIFF or the export fails), and copied to int8 (dynamic quantization of
the weights) when the fp32 file is larger than `quantize_above_mb`.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import torch

from talkhead.atomic import atomic_dir, write_json
from talkhead.export.v3face_onnx import quantize_if_large
from talkhead.models.microalbert import MicroAlbert, load_model
from talkhead.models.microalbert_tokenizer import TOKENIZER_FILE, encode, load_tokenizer
from talkhead.vocab import VAD_AXES

log = logging.getLogger(__name__)

INPUT_NAMES, OUTPUT_NAMES = ["input_ids", "attention_mask"], ["vad"]
MAX_DIFF = 1e-4  # ONNX vs torch (fp32), the export's acceptance bound
ONNX_FILE = "microalbert.onnx"
CHECK_TEXTS = ("Hi.", "I am so happy to see you again, this is wonderful!",
               "Please, somebody help me, I don't know what to do and everything is falling apart around me.",
               "Do it now.", "The meeting is at three o'clock tomorrow in the small room next to the station.")


class _Deployable(torch.nn.Module):
    """The student with int64 ids and mask in, (B, 3) VAD out (the training-only teacher head dropped)."""

    def __init__(self, model: MicroAlbert) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids, attention_mask)


def export_onnx(model: MicroAlbert, path: Path, opset: int = 17) -> Path:
    """Write the ONNX graph of `model` (eval mode) to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = torch.tensor([[2, 10, 11, 12, 3], [2, 13, 3, 0, 0]])  # a batch of 2 (a batch of 1 gets specialised)
    mask = (ids > 0).long()
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "vad": {0: "batch"}}
    with torch.no_grad():
        # the wrapper in eval mode too: the exporter restores the wrapper's mode on its children afterwards
        torch.onnx.export(_Deployable(model).eval(), (ids, mask), str(path), input_names=INPUT_NAMES,
                          output_names=OUTPUT_NAMES, dynamic_axes=axes, opset_version=opset, dynamo=False)
    log.info("exported %s (%.2f MB, opset %d)", path, path.stat().st_size / 2**20, opset)
    return path


def session(path: str | Path, threads: int = 1):
    """An onnxruntime CPU session with `threads` intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def verify_onnx(path: Path, model: MicroAlbert, tok, max_tokens: int, texts: tuple[str, ...] = CHECK_TEXTS) -> float:
    """Max abs difference ONNX vs torch over each text alone and all of them as one padded batch."""
    sess = session(path)
    model = model.eval()
    worst = 0.0
    for batch in [[t] for t in texts] + [list(texts)]:
        ids, mask = encode(tok, batch, max_tokens)
        with torch.no_grad():
            expected = model(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        got = sess.run(OUTPUT_NAMES, {"input_ids": ids, "attention_mask": mask})[0]
        if got.shape != expected.shape:
            raise AssertionError(f"ONNX output shape {got.shape} != torch {expected.shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def export_microalbert(model_dir: Path, out: Path, quantize_above_mb: float, opset: int = 17) -> dict:
    """Export, verify and (when large) quantize the student of `model_dir` into the folder `out` (written whole or
    not at all): microalbert.onnx, tokenizer.json, export.json. Raises RuntimeError when ONNX and torch disagree."""
    model, meta = load_model(model_dir)
    tok = load_tokenizer(model_dir)
    max_tokens = int(meta["spec"]["max_tokens"])
    with atomic_dir(out) as tmp:
        path = export_onnx(model, tmp / ONNX_FILE, opset)
        diff = verify_onnx(path, model, tok, max_tokens)
        if diff > MAX_DIFF:
            raise RuntimeError(f"MicroAlbert ONNX output differs from torch by {diff:.2e} (> {MAX_DIFF})")
        int8 = quantize_if_large(path, quantize_above_mb)
        int8_diff = verify_onnx(int8, model, tok, max_tokens) if int8 else None
        shutil.copyfile(Path(model_dir) / TOKENIZER_FILE, tmp / TOKENIZER_FILE)
        record = {"onnx": ONNX_FILE, "tokenizer": TOKENIZER_FILE, "inputs": INPUT_NAMES, "outputs": OUTPUT_NAMES,
                  "axes": list(VAD_AXES), "max_tokens": max_tokens, "opset": opset,
                  "size_mb": round(path.stat().st_size / 2**20, 3), "max_abs_diff_vs_torch": diff,
                  "int8": int8.name if int8 else None, "int8_max_abs_diff_vs_torch": int8_diff,
                  "parameters": meta["parameters"], "teacher": meta["teacher"],
                  "vad_mean": meta.get("vad_mean"), "vad_std": meta.get("vad_std")}
        write_json(tmp / "export.json", record)
    log.info("MicroAlbert ONNX: %.2f MB, max |ONNX - torch| %.2e%s", record["size_mb"], diff,
             f", int8 copy {int8.name}" if int8 else "")
    return record

"""Imports go down the layers of docs/architecture.md, never up (read with the ast module, lazy imports too)."""

import ast
from pathlib import Path

import talkhead

PACKAGE = Path(talkhead.__file__).parent

# Lowest first; a module may import its own layer and those below. A name is a package or module under
# talkhead (the longest match wins: eval's measures sit low, its evaluations high).
LAYERS: list[tuple[str, ...]] = [
    ("vocab", "atomic", "logs", "config", "config_base", "config_models", "schemas"),  # foundation
    ("media", "data", "gx", "report", "demo"),  # media files, datasets, validation and its reports, demo material
    ("models",),  # networks, their sizes, loading
    ("faces", "features", "quality", "render",  # what measures or draws a face
     "eval.metrics", "eval.image", "eval.landmarks", "eval.mfcc", "eval.sync", "eval.frechet",
     "eval.feature_nets", "eval.consistency"),
    ("train",),  # trainers
    ("infer", "export", "gaussians"),  # inference, export, the per-identity heads (train and render)
    ("eval",),  # evaluations: trained models on held-out data
    ("stages", "cli"),  # entry points: parse arguments, call the library
]


def _layer(module: str) -> int:
    """Layer index of a dotted module name under talkhead ('eval.sync', 'stages.qc', …)."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        name = ".".join(parts[:n])
        for i, names in enumerate(LAYERS):
            if name in names:
                return i
    raise AssertionError(f"talkhead.{module} is in no layer of tests/unit/test_layers.py")


def _imports(path: Path) -> list[tuple[str, int]]:
    """(imported talkhead module without the prefix, line) of every import in a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("talkhead."):
            base = node.module.removeprefix("talkhead.")
            if base == "models" or base == "eval":  # `from talkhead.models import flow_matching`
                out += [(f"{base}.{a.name}", node.lineno) for a in node.names]
            else:
                out.append((base, node.lineno))
        elif isinstance(node, ast.Import):
            out += [(a.name.removeprefix("talkhead."), node.lineno) for a in node.names
                    if a.name.startswith("talkhead.")]
    return out


def test_every_import_goes_down():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
        if module == "__init__":
            continue
        here = _layer(module)
        for target, line in _imports(path):
            if _layer(target) > here:
                upward.append(f"{path.relative_to(PACKAGE.parent)}:{line} talkhead.{module} (layer {here}) imports "
                              f"talkhead.{target} (layer {_layer(target)})")
    assert not upward, "imports that go up a layer:\n" + "\n".join(upward)


def test_the_check_sees_an_upward_import(tmp_path):
    path = tmp_path / "x.py"
    path.write_text("def f():\n    from talkhead.stages.qc import main\n", encoding="utf-8")
    assert _imports(path) == [("stages.qc", 2)] and _layer("stages.qc") > _layer("models.v3face")
    assert _layer("eval.sync") < _layer("train.v3face") < _layer("eval.motion")

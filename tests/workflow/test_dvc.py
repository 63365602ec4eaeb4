"""dvc.yaml and Snakemake describe one graph: every stage runs an existing target with known params."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess

import pytest
import yaml

from talkhead.config import load_schema

from .helpers import REPO, run, write_params

pytestmark = pytest.mark.workflow


def _stages() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def _snakemake_rules() -> set[str]:
    text = "\n".join(p.read_text() for p in [REPO / "Snakefile", *(REPO / "workflow/rules").glob("*.smk")])
    return set(re.findall(r"^(?:rule|checkpoint) (\w+):", text, flags=re.M))


def _phase_rules(name: str) -> dict[str, str]:
    """rule name → its text, for the rules of workflow/rules/<name>.smk."""
    text = (REPO / "workflow/rules" / f"{name}.smk").read_text()
    return dict(re.findall(r"^(?:rule|checkpoint) (\w+):\n(.*?)(?=^(?:rule|checkpoint) |\Z)", text, flags=re.M | re.S))


def _read_paths(body: str) -> set[str]:
    """The data folders (data/<phase>, data/models/<model>) and the manifest a rule's input section names."""
    section = re.search(r"^    input:\n(.*?)^    \w+:", body, flags=re.M | re.S)
    if not section:
        return set()
    text = section.group(1)
    paths = {m.rstrip("/") for m in re.findall(r'"(data/[^"{]*)', text)}
    paths |= {f"data/{m}" for m in re.findall(r'shard_indices\("(\w+)"\)', text)}
    paths |= {"data/models/video_vae"} if "VIDEO_VAE" in text else set()
    paths |= {"data/models/face3dmm_basis"} if "FACE3DMM_BASIS" in text else set()
    paths |= {"${dataset.manifest}"} if "MANIFEST" in text else set()
    return paths


@pytest.mark.parametrize("name", sorted(_stages()))
def test_stage_agrees_with_snakemake(name):
    stage = _stages()[name]
    cmd = shlex.split(stage["cmd"])
    assert cmd[0] == "snakemake" and cmd[-1] == name, "each stage runs the Snakemake target of its own name"
    rules = _snakemake_rules()
    assert name in rules
    allowed = cmd[cmd.index("--allowed-rules") + 1: cmd.index("--")]
    assert set(allowed) <= rules and name in allowed
    schema = load_schema()["properties"]
    for section in stage["params"]:  # a whole section, or one key of it (dataset.seed)
        head, *key = section.split(".")
        assert head in schema, f"params section {head!r} not in the schema"
        assert not key or key[0] in schema[head]["properties"], f"params key {section!r} not in the schema"
    assert f"workflow/rules/{name}.smk" in stage["deps"] and "src/talkhead" in stage["deps"]
    outs = [o if isinstance(o, str) else next(iter(o)) for o in stage["outs"]]
    phase_rules = _phase_rules(name)
    assert set(phase_rules) <= set(allowed), f"rules of {name}.smk the stage does not allow: {set(phase_rules) - set(allowed)}"
    for rule, body in phase_rules.items():  # what a rule reads is a dep of the stage (or made by the stage itself)
        read = _read_paths(body)
        covered = [*stage["deps"], *outs]
        missing = [p for p in read if not any(p == c or p.startswith(c.rstrip("/") + "/") for c in covered)]
        assert not missing, f"{name}: rule {rule} reads {missing}, not deps of the stage"
    if name == "evaluate":  # data/eval/<model>/: files, so that the metrics file can be declared as metrics
        assert outs and all(o.startswith("data/eval/") for o in outs), outs
        return
    folder = f"data/models/{name[len('train_'):]}" if name.startswith("train_") else f"data/{name}"
    assert folder in outs  # a phase's folder; a trained model's is data/models/<model>


def test_every_phase_has_a_stage():
    phases = {p.stem for p in (REPO / "workflow/rules").glob("*.smk")} - {"common"}
    assert phases == set(_stages())


def test_dvc_repro_on_demo_data(tmp_path, demo_dataset):
    """A copy of the project, `dvc repro` on the tiny demo data, then `dvc status` is clean."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    proj = tmp_path / "proj"
    for rel in files:
        if (REPO / rel).exists():
            dest = proj / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest, follow_symlinks=False)
    shutil.copytree(demo_dataset.parent, proj / "data/demo")
    write_params(proj, proj / "data/demo/manifest.csv")
    params = (proj / "params.yaml").read_text().replace(str(proj / "data/demo/manifest.csv"), "data/demo/manifest.csv")
    (proj / "params.yaml").write_text(params)
    run(["git", "init", "-q"], proj)
    run(["dvc", "repro", "--quiet"], proj)
    status = run(["dvc", "status"], proj)
    assert "up to date" in status.stdout.lower(), status.stdout
    assert (proj / "data/normalize/summary.csv").is_file() and (proj / "dvc.lock").is_file()

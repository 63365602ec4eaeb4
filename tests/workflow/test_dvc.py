"""dvc.yaml and Snakemake describe one graph: every stage runs an existing target with known params."""

from __future__ import annotations

import json
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
    assert set(phase_rules) <= set(allowed), (f"rules of {name}.smk the stage does not allow: "
                                              f"{set(phase_rules) - set(allowed)}")
    for rule, body in phase_rules.items():  # what a rule reads is a dep of the stage (or made by the stage itself)
        read = _read_paths(body)
        covered = [*stage["deps"], *outs]
        # A per-clip phase's folder is covered by its shard indices (data/<phase>/_shards), as in Snakemake.
        missing = [p for p in read if not any(p == c or p.startswith(c.rstrip("/") + "/") or c == f"{p}/_shards"
                                              for c in covered)]
        assert not missing, f"{name}: rule {rule} reads {missing}, not deps of the stage"
    if name == "evaluate":  # data/eval/<model>/ folders and the metrics table; metrics.json declared at the top
        assert outs and all(o.startswith("data/eval/") for o in outs), outs
        return
    folder = f"data/models/{name[len('train_'):]}" if name.startswith("train_") else f"data/{name}"
    assert folder in outs  # a phase's folder; a trained model's is data/models/<model>


def test_every_phase_has_a_stage():
    phases = {p.stem for p in (REPO / "workflow/rules").glob("*.smk")} - {"common"}
    assert phases == set(_stages())


PRE_TRAINING = ("ingest", "normalize", "faces", "crop", "quality", "features", "dataset")


def _git(proj, *args: str) -> None:
    run(["git", "-c", "user.name=talkhead tests", "-c", "user.email=tests@talkhead.invalid", *args], proj)


@pytest.fixture(scope="module")
def dvc_project(tmp_path_factory, demo_dataset):
    """A copy of the project on the tiny demo data in a git repository (code and params committed, as in a
    clone), its whole pipeline run by `dvc repro`."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.split()
    proj = tmp_path_factory.mktemp("dvc") / "proj"
    for rel in files:
        if (REPO / rel).exists() and rel != "dvc.lock":  # a developer's own record of their run stays behind
            dest = proj / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, dest, follow_symlinks=False)
    shutil.copytree(demo_dataset.parent, proj / "data/demo")
    write_params(proj, proj / "data/demo/manifest.csv")
    params = (proj / "params.yaml").read_text().replace(str(proj / "data/demo/manifest.csv"), "data/demo/manifest.csv")
    (proj / "params.yaml").write_text(params)
    run(["git", "init", "-q"], proj)
    _git(proj, "add", "-A")
    _git(proj, "commit", "-q", "-m", "the project")
    run(["dvc", "repro", "--quiet"], proj)
    return proj


def _assert_up_to_date(proj) -> None:
    status = run(["dvc", "status"], proj)
    assert "up to date" in status.stdout.lower(), status.stdout
    repro = run(["dvc", "repro"], proj).stdout
    assert "Running stage" not in repro, repro
    for stage in _stages():
        assert f"Stage '{stage}' didn't change, skipping" in repro, repro


def test_dvc_repro_then_up_to_date(dvc_project):
    """After `dvc repro`, and after `make demo`'s way (Snakemake ran the graph, `dvc commit` records it):
    `dvc status` is clean and `dvc repro` runs no stage."""
    assert (dvc_project / "data/normalize/summary.csv").is_file() and (dvc_project / "dvc.lock").is_file()
    _assert_up_to_date(dvc_project)
    (dvc_project / "dvc.lock").unlink()
    assert "up to date" not in run(["dvc", "status"], dvc_project).stdout.lower()
    run(["dvc", "commit", "--force", "--quiet"], dvc_project)
    _assert_up_to_date(dvc_project)


def test_push_delete_pull(dvc_project):
    """The project's default remote (a local folder, .dvc/config) stores the dataset and the models:
    push, delete them and the cache, pull, and every file is back."""
    assert "local" in run(["dvc", "remote", "list"], dvc_project).stdout
    kept = sorted(p.relative_to(dvc_project) for d in ("data/dataset", "data/models")
                  for p in (dvc_project / d).rglob("*") if p.is_file())
    before = {p: (dvc_project / p).read_bytes() for p in kept}
    assert any(p.suffix == ".safetensors" for p in kept)
    run(["dvc", "push", "--quiet"], dvc_project)
    assert any((dvc_project / "dvc-remote").rglob("*"))
    for d in ("data/dataset", "data/models", ".dvc/cache"):
        shutil.rmtree(dvc_project / d)
    assert "up to date" not in run(["dvc", "status"], dvc_project).stdout.lower()
    run(["dvc", "pull", "--quiet"], dvc_project)
    assert {p: (dvc_project / p).read_bytes() for p in kept} == before
    assert "up to date" in run(["dvc", "status"], dvc_project).stdout.lower()


def test_experiment_reruns_only_what_reads_the_changed_params(dvc_project):
    """`dvc exp run -S motion_dit.epochs=…` on a committed baseline runs the motion DiT's training, the
    evaluation and the report over them only; metrics and params diff against the baseline, the evaluation's
    metrics included."""
    _git(dvc_project, "add", "dvc.lock")
    _git(dvc_project, "commit", "-q", "-m", "baseline: dvc.lock")
    epochs = yaml.safe_load((dvc_project / "params.yaml").read_text())["motion_dit"]["epochs"]
    out = run(["dvc", "exp", "run", "-n", "more-epochs", "-S", f"motion_dit.epochs={epochs + 1}"], dvc_project).stdout
    ran = set(re.findall(r"Running stage '(\w+)'", out))
    assert ran == {"train_motion_dit", "evaluate", "report"}, out
    for stage in PRE_TRAINING:
        assert f"Stage '{stage}' didn't change, skipping" in out, out
    diff = run(["dvc", "metrics", "diff", "HEAD", "more-epochs", "--json"], dvc_project)
    assert "failed to load" not in diff.stderr.lower(), diff.stderr
    metrics = json.loads(diff.stdout)
    assert metrics["data/models/motion_dit/metrics.json"]["epoch"] == {"old": epochs, "new": epochs + 1, "diff": 1}
    assert "val_l1" in metrics["data/eval/motion_dit/metrics.json"]
    assert not any(path.startswith("data/eval/v3face") for path in metrics)  # its model did not change
    params = json.loads(run(["dvc", "params", "diff", "HEAD", "more-epochs", "--json"], dvc_project).stdout)
    assert params["params.yaml"] == {"motion_dit.epochs": {"old": epochs, "new": epochs + 1, "diff": 1}}
    plots = dvc_project / "plots_diff"
    run(["dvc", "plots", "diff", "HEAD", "more-epochs", "--out", str(plots)], dvc_project)
    assert (plots / "index.html").is_file()
    assert "up to date" in run(["dvc", "status"], dvc_project).stdout.lower()

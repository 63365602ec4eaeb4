"""Stage modules are entry points (docs/architecture.md, layer 7): they parse arguments and call the library, so a
phase's logic has one home that the shard runners, `talkhead qc` and the per-clip CLIs all call."""

import ast
from pathlib import Path

import talkhead.stages

STAGES = Path(talkhead.stages.__file__).parent

# The modules that run many clips or files in one process: they are the job runners a workflow calls, not a phase.
RUNNERS = {"common", "shard", "shard_phases", "feature_shard", "feature_steps", "qc_files", "__init__"}
# What else an entry point may define: the argument helpers and the one-line summaries it prints.
ARGUMENT_HELPERS = {"main", "_main", "_path", "_clip_main", "summary_line"}


def test_stage_modules_only_parse_arguments_and_call_the_library():
    logic = {}
    for path in sorted(STAGES.glob("*.py")):
        if path.stem in RUNNERS:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        if defined - ARGUMENT_HELPERS:
            logic[path.stem] = sorted(defined - ARGUMENT_HELPERS)
    assert not logic, f"move these into the library (talkhead.<package>), the stage calls them: {logic}"

"""The generated tables of the docs equal what their committed results files give (benchmarks/docs_numbers.py)."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("docs_numbers", REPO / "benchmarks/docs_numbers.py")
docs_numbers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(docs_numbers)


def test_every_generated_table_matches_its_file():
    assert docs_numbers.main(["--check"]) == 0, "run `make docs-numbers` (or fix the results file)"


def test_a_changed_number_is_caught_and_rewritten(tmp_path):
    doc = REPO / "docs/v3face.md"
    text = doc.read_text(encoding="utf-8")
    start = text.index("<!-- numbers: v3face_val_l1 -->")
    stale = text[:start] + text[start:].replace("| model + crisp | 0.", "| model + crisp | 9.", 1)
    assert stale != text
    copy = tmp_path / "v3face.md"
    copy.write_text(stale, encoding="utf-8")
    assert docs_numbers.main(["--check", str(copy)]) == 1
    assert docs_numbers.main([str(copy)]) == 0 and copy.read_text(encoding="utf-8") == text

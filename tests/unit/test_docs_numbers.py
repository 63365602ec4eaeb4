"""The generated tables of the docs equal what their committed results files give (benchmarks/docs_numbers.py)."""

import importlib.util
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("docs_numbers", REPO / "benchmarks/docs_numbers.py")
docs_numbers = importlib.util.module_from_spec(spec)
spec.loader.exec_module(docs_numbers)
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCKS = [(doc, m) for doc in DOCS for m in docs_numbers.BLOCK.finditer(doc.read_text(encoding="utf-8"))]


def test_every_generated_table_matches_its_file():
    assert docs_numbers.main(["--check"]) == 0, "run `make docs-numbers` (or fix the results file)"


def test_every_renderer_has_a_table_in_the_docs():
    assert sorted({m["name"] for _, m in BLOCKS}) == sorted(docs_numbers.TABLES)


@pytest.mark.parametrize("doc, block", BLOCKS, ids=[f"{d.name}:{m['name']}" for d, m in BLOCKS])
def test_a_hand_edited_number_is_caught_and_rewritten(tmp_path, doc, block):
    text = doc.read_text(encoding="utf-8")
    digit = re.search(r"\d", block["body"])
    assert digit, f"{block['name']}: a generated table without a number"
    at = block.start("body") + digit.start()
    stale = text[:at] + ("7" if text[at] != "7" else "3") + text[at + 1:]  # one digit changed by hand
    copy = tmp_path / doc.name
    copy.write_text(stale, encoding="utf-8")
    assert docs_numbers.main(["--check", str(copy)]) == 1
    assert docs_numbers.main([str(copy)]) == 0 and copy.read_text(encoding="utf-8") == text

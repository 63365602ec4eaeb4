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
CELL_NUMBER = re.compile(r"\| [−-]?(\d)")  # a table cell that starts with a number


def _a_number(body: str) -> int:
    """Where in a generated block a hand edit is likeliest: the first table cell after the rule that starts with a
    digit (a measured number, not the 3 of a header's 'face3dmm' or a label's 'face_1'); else the first digit."""
    cell = CELL_NUMBER.search(body, max(body.find("---|"), 0))
    if cell:
        return cell.start(1)
    digit = re.search(r"\d", body)
    assert digit, "a generated table without a number"
    return digit.start()


def test_every_generated_table_matches_its_file():
    assert docs_numbers.main(["--check"]) == 0, "run `make docs-numbers` (or fix the results file)"


def test_every_renderer_has_a_table_in_the_docs():
    assert sorted({m["name"] for _, m in BLOCKS}) == sorted(docs_numbers.TABLES)


@pytest.mark.parametrize("doc, block", BLOCKS, ids=[f"{d.name}:{m['name']}" for d, m in BLOCKS])
def test_a_hand_edited_number_is_caught_and_rewritten(tmp_path, doc, block):
    text = doc.read_text(encoding="utf-8")
    at = block.start("body") + _a_number(block["body"])
    stale = text[:at] + ("7" if text[at] != "7" else "3") + text[at + 1:]  # one digit changed by hand
    copy = tmp_path / doc.name
    copy.write_text(stale, encoding="utf-8")
    assert docs_numbers.main(["--check", str(copy)]) == 1
    assert docs_numbers.main([str(copy)]) == 0 and copy.read_text(encoding="utf-8") == text

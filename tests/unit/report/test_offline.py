"""Great Expectations Data Docs made offline: no page loads anything from outside the machine, every local
reference resolves, and the pages stay a function of the results."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from talkhead.config import ConfigError
from talkhead.gx import run_suites
from talkhead.report import offline
from talkhead.report.offline import VENDOR, external_references, make_offline

LOCAL_LOAD = re.compile(r"<(?:script|img)\b[^>]*\bsrc=\"([^\"]+)\"|<link\b[^>]*\bhref=\"([^\"]+)\"|url\('([^']+)'\)")


def _site(out: Path) -> Path:
    import great_expectations.expectations as gxe

    table = pd.DataFrame({"clip": ["a", "b", "c"], "score": [0.1, 0.5, 2.0]})
    suite = [gxe.ExpectColumnValuesToBeUnique(column="clip"),
             gxe.ExpectColumnValuesToBeBetween(column="score", min_value=0, max_value=1)]
    run_suites({"scores": (table, suite)}, out)
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return _site(tmp_path_factory.mktemp("docs") / "site")


def test_no_page_loads_anything_external(site):
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 3  # the index, the suite, the validation
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert external_references(text) == [], page
        assert "integrity=" not in text and "crossorigin" not in text, page
        assert "prefers-color-scheme: dark" not in text, page  # no dark overrides without the dark theme
        assert "greatexpectations.io" in text or page.name != "index.html"  # plain links stay links


def test_every_local_reference_resolves(site):
    for page in sorted(site.rglob("*.html")):
        for groups in LOCAL_LOAD.findall(page.read_text(encoding="utf-8")):
            ref = next(g for g in groups if g)
            if ref.startswith(("data:", "#", "javascript:")):
                continue
            assert (page.parent / ref.split("?")[0]).resolve().is_file(), (page.name, ref)


def test_vendor_files_come_from_the_packages(site):
    vendor = site / VENDOR
    assert (vendor / "jquery/jquery.min.js").read_text(encoding="utf-8").lstrip().startswith("/*! jQuery v3.7.1")
    assert "Bootstrap v4" in (vendor / "bootstrap/css/bootstrap.min.css").read_text(encoding="utf-8")[:200]
    assert any((vendor / "fontawesome/webfonts").glob("fa-solid-900.*"))
    assert "$.fn.bootstrapTable" in (vendor / "talkhead/talkhead-table.js").read_text(encoding="utf-8")
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'src="static/vendor/talkhead/talkhead-table.js"' in index and "popper" not in index.lower()


def test_pages_are_reproducible(site, tmp_path):
    again = _site(tmp_path / "again")
    for page in sorted(site.rglob("*.html")):
        assert page.read_bytes() == (again / page.relative_to(site)).read_bytes(), page
    make_offline(again)  # idempotent: a second pass changes nothing
    assert (site / "index.html").read_bytes() == (again / "index.html").read_bytes()


def test_external_references_finds_every_kind_of_load():
    html = """<script src="https://cdn.example.org/x.js"></script>
<link rel="stylesheet" href="//cdn.example.org/x.css"><img src="http://img.example.org/logo.png">
<style>.a { background: url('https://s3.example.org/bg.png') } @import "https://fonts.example.org/f.css";</style>
<a href="https://example.org/docs">docs</a><script src="static/local.js"></script>"""
    assert external_references(html) == ["https://cdn.example.org/x.js", "//cdn.example.org/x.css",
                                         "http://img.example.org/logo.png", "https://s3.example.org/bg.png",
                                         "https://fonts.example.org/f.css"]


def test_an_unknown_external_load_is_dropped(tmp_path):
    page = tmp_path / "index.html"
    page.write_text('<head><script src="https://unknown.example.org/a.js" integrity="sha384-x" crossorigin="anonymous">'
                    '</script><script src="https://code.jquery.com/jquery-3.7.1.min.js"></script></head>')
    make_offline(tmp_path)
    text = page.read_text()
    assert external_references(text) == [] and "unknown.example.org" not in text
    assert '<script src="static/vendor/jquery/jquery.min.js"></script>' in text


def test_a_missing_package_is_named(tmp_path, monkeypatch):
    def files(dist):
        raise offline.metadata.PackageNotFoundError(dist)

    monkeypatch.setattr(offline.metadata, "files", files)
    with pytest.raises(ConfigError, match="XStatic-jQuery is not installed"):
        make_offline(tmp_path)

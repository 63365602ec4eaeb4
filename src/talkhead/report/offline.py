"""Great Expectations Data Docs that render with no network: every CDN load rewritten to a local copy.

Great Expectations 1.24 writes pages that load Bootstrap 4, jQuery, Font Awesome, bootstrap-table (with
its filter-control extension), bootstrap-datepicker, a dark theme and Vega from public CDNs, and a logo
from S3. On a compute node with no internet they render unstyled and the index page's tables, drawn by
bootstrap-table, stay empty. `make_offline(site)` copies into `site/static/vendor/`:

- jQuery from XStatic-jQuery, Bootstrap's CSS and its bundle (which includes Popper, so the separate
  Popper script is dropped) from XStatic-Bootstrap, Font Awesome's CSS and webfonts from
  XStatic-Font-Awesome (PyPI packages, located through their installed file lists, not imported);
- talkhead's own table script in place of bootstrap-table (`assets/talkhead-table.js`: the subset of
  its API the pages call; bootstrap-table is not on PyPI and is not vendored);

and rewrites each page's tags to relative paths, dropping `integrity`/`crossorigin` (they describe the
CDN's files). Dropped, because the pages talkhead builds do not need them: the date picker (the
run-time filter becomes a text filter), the dark theme (and with it the pages' own dark-mode CSS
overrides, which without it painted dark tables on a light page), the filter-control files (the table
script filters itself) and Vega (no page of talkhead's suites calls vegaEmbed: Great Expectations draws
Vega charts only for profiling results and two distribution expectations, the KL divergence and
distinct-values-in-set ones, which talkhead does not use). The S3 logos (an <img> and a CSS
background) become the site's own static/images/logo-long.png. Any other external load is dropped with
a warning (a CSS url() becomes an empty data: URL), so no page is left waiting on the network.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from importlib import metadata, resources
from pathlib import Path

from talkhead.atomic import write_text
from talkhead.config import ConfigError

log = logging.getLogger(__name__)
VENDOR = "static/vendor"
# (distribution, path inside its data/ folder) → path under VENDOR; a trailing '/' copies a folder
PACKAGE_FILES = {
    ("XStatic-jQuery", "jquery.min.js"): "jquery/jquery.min.js",
    ("XStatic-Bootstrap", "css/bootstrap.min.css"): "bootstrap/css/bootstrap.min.css",
    ("XStatic-Bootstrap", "js/bootstrap.bundle.min.js"): "bootstrap/js/bootstrap.bundle.min.js",
    ("XStatic-Font-Awesome", "css/all.min.css"): "fontawesome/css/all.min.css",
    ("XStatic-Font-Awesome", "webfonts/"): "fontawesome/webfonts/",
}
OWN_ASSETS = {"talkhead-table.js": "talkhead/talkhead-table.js", "talkhead-table.css": "talkhead/talkhead-table.css"}
# external URL pattern → local file (relative to the site root), or None: the tag is dropped
URL_MAP: list[tuple[re.Pattern[str], str | None]] = [
    (re.compile(r"bootstrap-table.*filter-control", re.I), None),
    (re.compile(r"bootstrap-table[^\"]*\.js$", re.I), f"{VENDOR}/talkhead/talkhead-table.js"),
    (re.compile(r"bootstrap-table[^\"]*\.css$", re.I), f"{VENDOR}/talkhead/talkhead-table.css"),
    (re.compile(r"bootstrap-datepicker", re.I), None),
    (re.compile(r"bootstrap-dark|bootstrap-prefers-dark", re.I), None),
    (re.compile(r"popper", re.I), None),
    (re.compile(r"/vega(-lite|-embed)?@", re.I), None),
    (re.compile(r"jquery[-.\d]*(\.min)?\.js$", re.I), f"{VENDOR}/jquery/jquery.min.js"),
    (re.compile(r"bootstrap[@/][\d.]+/(dist/)?css/bootstrap(\.min)?\.css$", re.I),
     f"{VENDOR}/bootstrap/css/bootstrap.min.css"),
    (re.compile(r"bootstrap[@/][\d.]+/(dist/)?js/bootstrap(\.bundle)?(\.min)?\.js$", re.I),
     f"{VENDOR}/bootstrap/js/bootstrap.bundle.min.js"),
    (re.compile(r"font-?awesome.*/css/all(\.min)?\.css$", re.I), f"{VENDOR}/fontawesome/css/all.min.css"),
    (re.compile(r"great-expectations-web-assets.*/(full_)?logo[-_\w]*\.png$", re.I), "static/images/logo-long.png"),
]
EXTERNAL = r"(?:https?:)?//[^\"'\s)>]+"
# tags that make the browser load something: scripts, stylesheets and other <link>s, images
LOADING_TAG = re.compile(r"<script\b[^>]*\bsrc=\"(?P<s>" + EXTERNAL + r")\"[^>]*>\s*</script>\s*"
                         r"|<link\b[^>]*\bhref=\"(?P<l>" + EXTERNAL + r")\"[^>]*>\s*"
                         r"|<img\b[^>]*\bsrc=\"(?P<i>" + EXTERNAL + r")\"[^>]*>", re.I)
CSS_LOAD = re.compile(r"(?:url\(\s*['\"]?|@import\s+['\"])(" + EXTERNAL + ")", re.I)
SITE_STATIC = re.compile(r"(\b(?:src|href)=\")(?:\./|\.\./)*(static/[^\"]+)\"")  # a site file, however deep the page
SRI = re.compile(r"\s+(?:integrity|crossorigin)(?:=\"[^\"]*\")?", re.I)
DARK = re.compile(r"@media\s*\(\s*prefers-color-scheme\s*:\s*dark\s*\)", re.I)
LIGHT_ONLY = "@media not all /* talkhead: the dark theme is not loaded, so its overrides are off */"


def external_references(html: str) -> list[str]:
    """Every URL outside the machine that a page loads: script src, <link> href, img src, CSS url()/@import.
    Plain links (<a href>) are navigation, not loads, and are not listed."""
    found = [m.group("s") or m.group("l") or m.group("i") for m in LOADING_TAG.finditer(html)]
    return found + CSS_LOAD.findall(html)


def _package_file(dist: str, inner: str) -> Path:
    """An installed file (or folder, `inner` ending in '/') of an XStatic distribution's data/ folder."""
    try:
        files = metadata.files(dist) or []
    except metadata.PackageNotFoundError:
        raise ConfigError(f"{dist} is not installed: the offline Data Docs need it (pip install {dist}, "
                          "or make install)") from None
    folder = inner.endswith("/")
    for entry in files:
        text = str(entry).replace("\\", "/")
        if folder and f"/data/{inner}" in text:
            path = Path(entry.locate())
            return path.parents[text.split(f"/data/{inner}", 1)[1].count("/")]
        if not folder and text.endswith(f"/data/{inner}"):
            return Path(entry.locate())
    raise ConfigError(f"{dist} has no data/{inner}: the installed version is not the one requirements/lock.txt pins")


def copy_assets(site: str | Path) -> None:
    """The local CSS/JS/fonts under `site`/static/vendor/ (overwritten: the same bytes every time)."""
    vendor = Path(site) / VENDOR
    for (dist, inner), dest in PACKAGE_FILES.items():
        source, target = _package_file(dist, inner), vendor / dest
        if inner.endswith("/"):
            # copyfile, not copy2: written now, like every other output (a package's old mtimes would read
            # as stale to make-style tools and to the re-extraction test)
            shutil.copytree(source, target, dirs_exist_ok=True, copy_function=shutil.copyfile)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    own = resources.files("talkhead.report") / "assets"
    for name, dest in OWN_ASSETS.items():
        target = vendor / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(own.joinpath(name).read_bytes())


def _local(url: str) -> str | None:
    """The site-relative local file for an external URL, or None (drop the tag)."""
    for pattern, target in URL_MAP:
        if pattern.search(url):
            return target
    log.warning("Data Docs: dropped a load of %s (no local copy)", url)
    return None


def rewrite_page(html: str, page: Path, site: Path) -> str:
    """A page's HTML with every external load pointing at the local copy (relative to the page) or removed,
    Great Expectations' dark-mode overrides off, and every reference to the site's static/ files relative
    to the page's own depth."""
    up = os.path.relpath(site, page.parent).replace(os.sep, "/")

    def replace(match: re.Match) -> str:
        tag = match.group(0)
        url = match.group("s") or match.group("l") or match.group("i")
        target = _local(url)
        if target is None:
            return ""
        return SRI.sub("", tag.replace(url, f"{up}/{target}" if up != "." else target))

    def replace_css(match: re.Match) -> str:
        url = match.group(1)
        target = _local(url)
        local = "data:," if target is None else (f"{up}/{target}" if up != "." else target)
        return match.group(0).replace(url, local)

    html = DARK.sub(LIGHT_ONLY, CSS_LOAD.sub(replace_css, LOADING_TAG.sub(replace, html)))
    # The site's own files, relative to this page's depth (Great Expectations 1.24 gives the validation
    # pages a favicon path one level short).
    prefix = "" if up == "." else f"{up}/"
    return SITE_STATIC.sub(lambda m: f'{m.group(1)}{prefix}{m.group(2)}"', html)


def make_offline(site: str | Path) -> None:
    """Copy the assets into `site` and rewrite every HTML page under it (see the module docstring)."""
    site = Path(site)
    copy_assets(site)
    for page in sorted(site.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        new = rewrite_page(text, page, site)
        if new != text:
            write_text(page, new)

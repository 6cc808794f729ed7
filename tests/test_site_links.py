"""The built website: internal links resolve, images have alt text, search works, screenshots.

Uses the session fixture ``built_site`` (tests/conftest.py), which builds the book once with
warnings as errors. The link check needs no browser; the screenshots reuse the headless Chromium
helpers of tests/test_site.py.
"""

from __future__ import annotations

import posixpath
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

# Pages that Sphinx generates without content links worth checking.
SKIP_PAGES = {"genindex.html", "search.html"}
SKIP_DIRS = {"_sources", "_static", "_images"}
LINK_ATTRS = {
    "a": "href",
    "link": "href",
    "img": "src",
    "script": "src",
    "iframe": "src",
    "source": "src",
}


class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []  # (tag, url)
        self.images: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        attr = LINK_ATTRS.get(tag)
        if attr and a.get(attr):
            self.links.append((tag, a[attr]))
        if tag == "img":
            self.images.append(a)

    handle_startendtag = handle_starttag


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8", errors="replace"))
    return page


@pytest.fixture(scope="module")
def pages(built_site) -> dict[Path, _Page]:
    out = {}
    for path in sorted(built_site.rglob("*.html")):
        rel = path.relative_to(built_site)
        if rel.parts[0] in SKIP_DIRS:
            continue
        out[path] = _parse(path)
    assert len(out) >= 10
    return out


def _is_external(url: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", url)) or url.startswith("//")


def test_no_broken_internal_links(built_site, pages):
    cache: dict[Path, _Page] = dict(pages)
    broken = []
    for path, page in pages.items():
        if path.name in SKIP_PAGES:
            continue
        for tag, url in page.links:
            if _is_external(url) or url.startswith("{"):
                continue
            parts = urlsplit(url)
            target = path if not parts.path else (path.parent / unquote(parts.path))
            target = Path(posixpath.normpath(target.as_posix()))
            where = f"{path.relative_to(built_site)}: <{tag}> {url}"
            if built_site.with_name("html-zh") in target.parents:
                continue  # the same page in the Chinese edition: tests/test_zh.py follows these
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(
                    f"{where} (no file "
                    f"{target.relative_to(built_site) if built_site in target.parents else target})"
                )
                continue
            if parts.fragment and target.suffix == ".html" and target.name not in SKIP_PAGES:
                if target not in cache:
                    cache[target] = _parse(target)
                if unquote(parts.fragment) not in cache[target].ids:
                    broken.append(f"{where} (no id {parts.fragment!r} in {target.name})")
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken[:50])


def test_every_image_has_alt_text(built_site, pages):
    missing = [
        f"{path.relative_to(built_site)}: {img.get('src')}"
        for path, page in pages.items()
        for img in page.images
        if not (img.get("alt") or "").strip()
    ]
    assert not missing, "images without alt text:\n" + "\n".join(missing)
    # myst-nb falls back to the image's file path; a path describes nothing
    paths = [
        f"{path.relative_to(built_site)}: alt={img.get('alt')!r}"
        for path, page in pages.items()
        for img in page.images
        if re.search(r"\.(png|jpe?g|svg)$", (img.get("alt") or "").strip())
    ]
    assert not paths, (
        "images whose alt text is a file name (run `python tools/workshop.py alt-text`):\n"
        + "\n".join(paths)
    )


def test_landing_page_shows_the_course_arc(built_site):
    intro = _parse(built_site / "book" / "intro.html")
    arc = [img for img in intro.images if (img.get("src") or "").endswith("course-arc.svg")]
    assert arc and len(arc[0]["alt"]) > 40, (
        "the landing page shows the course arc with a real description"
    )
    assert (built_site / "_images" / "course-arc.svg").exists()


def test_search_index(built_site):
    assert (built_site / "search.html").exists()
    index = (built_site / "searchindex.js").read_text(encoding="utf-8")
    # words from chapters and from the narrative pages are searchable
    for word in ["perplex", "tokenizer", "softmax", "hallucin", "glossary"]:
        assert word in index.lower(), f"{word!r} is not in the search index"
    assert "notebooks/03_attention" in index and "book/instructors" in index


# --------------------------------------------------------------------------------------------
# Screenshots in headless Chromium (skipped without Chromium, like tests/test_site.py)
# --------------------------------------------------------------------------------------------

from test_site import _run_chromium, _serve, proxy, served  # noqa: E402,F401  (fixtures reused)

# A page of the site shown from a given element on, without scrolling: headless Chromium's
# --screenshot draws a blank page when the URL's #fragment scrolls the window, so a wrapper
# page shows the chapter in a tall iframe shifted up until the element is at the top.
WRAPPER = """<!doctype html><html><head><meta charset="utf-8"><style>
html, body {{ margin: 0; overflow: hidden; width: 1280px; height: 900px; }}
iframe {{ border: 0; width: 1280px; height: 40000px; display: block; }}
</style></head><body><iframe id="page" src="site/{page}"></iframe><script>
const frame = document.getElementById("page");
frame.addEventListener("load", () => {{
  const el = frame.contentDocument.getElementById("{element}");
  frame.style.marginTop = (20 - el.getBoundingClientRect().top) + "px";
}});
</script></body></html>"""

SHOTS = [  # (page, element to start from or None, file name, what the rendered page must contain)
    ("book/intro.html", None, "landing.png", "course-arc.svg"),
    ("notebooks/03_attention.html", None, "chapter-math.png", "mjx-container"),
    (
        "notebooks/01_language_models.html",
        "ex-01-perplexity",
        "exercise-solution-closed.png",
        "toggle-hidden",
    ),
]


@pytest.mark.site
@pytest.mark.parametrize("page,element,name,marker", SHOTS, ids=[s[2] for s in SHOTS])
def test_screenshot(served, built_site, repo_root, tmp_path, page, element, name, marker):  # noqa: F811
    """Screenshots into _build/screenshots/ for people to look at, and a check of what they show."""
    base, proxy_server = served
    port = proxy_server.server_address[1]
    out = repo_root / "_build" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    target = out / name
    url, wrapper = f"{base}/{page}", None
    if element:
        (tmp_path / "site").symlink_to(built_site, target_is_directory=True)
        (tmp_path / "shot.html").write_text(
            WRAPPER.format(page=page, element=element), encoding="utf-8"
        )
        wrapper = _serve(tmp_path)
        url = f"http://127.0.0.1:{wrapper.server_address[1]}/shot.html"
    try:
        result = _run_chromium([f"--screenshot={target}", "--window-size=1280,900", url], port)
    finally:
        if wrapper is not None:
            wrapper.shutdown()
    assert result.returncode == 0, result.stderr[-2000:]
    assert target.exists() and target.stat().st_size > 10_000, f"{name} looks blank"
    dom = _run_chromium(["--dump-dom", f"{base}/{page}"], port).stdout
    assert marker in dom, f"{page}: {marker!r} not found in the rendered page"
    if marker == "toggle-hidden":
        solutions = re.findall(r'<div class="(solution[^"]*)"', dom)
        assert solutions and all("toggle-hidden" in c for c in solutions), (
            "every solution dropdown starts closed"
        )

"""The built website in a real browser: math typeset with the network cut off, no external requests.

The pages are served on 127.0.0.1. Chromium is started with every outside host routed to a
recording proxy on 127.0.0.1 that refuses all requests: a page that needed the internet
would show up in the proxy's log, and its math would stay as raw TeX.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import socketserver
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.site

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--disable-client-side-phishing-detection",
    "--disable-domain-reliability",
    "--disable-features=OptimizationHints,MediaRouter,Translate,SigninInterceptBubble,AccountConsistency",
    "--metrics-recording-only",
    "--no-pings",
]
# Pages to open: (path in the site, must contain typeset math?)
PAGES = [
    ("book/intro.html", True),
    ("book/gpt-history.html", False),
    ("notebooks/00_setup.html", False),
]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail(
            "Chromium is required in CI (apt-get install -y chromium); .ci/run installs it."
        )
    pytest.skip(
        "No Chromium found: install it (Debian/Ubuntu: apt-get install -y chromium) to run "
        "the browser checks of the website."
    )


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


class _RecordingProxy(socketserver.ThreadingTCPServer):
    """Refuses every proxied request and records the host it was for."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self):
        self.hosts: list[str] = []
        super().__init__(("127.0.0.1", 0), self._Handler)

    class _Handler(socketserver.StreamRequestHandler):
        def handle(self):
            line = self.rfile.readline(4096).decode("latin-1", "replace")
            parts = line.split()
            if len(parts) >= 2:
                target = parts[1]
                host = target.split("//")[-1].split("/")[0].split(":")[0]
                self.server.hosts.append(host)
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")


def _serve(directory: Path) -> socketserver.ThreadingTCPServer:
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def proxy():
    recorder = _RecordingProxy()
    threading.Thread(target=recorder.serve_forever, daemon=True).start()
    yield recorder
    recorder.shutdown()


@pytest.fixture(scope="module")
def controls(tmp_path_factory, proxy):
    """Pages that tell the browser's own background traffic from a page's requests.

    ``blank.html`` loads nothing: whatever the proxy sees for it is Chromium itself talking
    to its vendor's services (sign-in, component updates), not the page.
    ``external.html`` loads a script from an outside host: the proxy must see that host,
    or the check below could not fail.
    """
    folder = tmp_path_factory.mktemp("controls")
    (folder / "blank.html").write_text("<html><body><p>blank</p></body></html>")
    (folder / "external.html").write_text(
        '<html><head><script src="https://cdn.example.org/lib.js"></script></head><body>x</body></html>'
    )
    server = _serve(folder)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    before = len(proxy.hosts)
    _run_chromium(["--dump-dom", f"{base}/blank.html"], proxy.server_address[1])
    background = set(proxy.hosts[before:])
    yield base, background
    server.shutdown()


@pytest.fixture(scope="module")
def served(built_site, proxy):
    server = _serve(built_site)
    yield f"http://127.0.0.1:{server.server_address[1]}", proxy
    server.shutdown()


def _run_chromium(args: list[str], proxy_port: int) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            _chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--proxy-server=http://127.0.0.1:{proxy_port}",
            "--virtual-time-budget=15000",
            *args,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_built_pages_reference_no_cdn(built_site):
    offenders = []
    for page in built_site.rglob("*.html"):
        html = page.read_text(encoding="utf-8", errors="replace")
        # Scripts, stylesheets, images and fonts must come from the site; plain links may leave it.
        for match in re.finditer(
            r'<(script|link|img|iframe)\b[^>]*?(src|href)="(https?:)?//([^"/]+)', html
        ):
            tag = match.group(0)
            if match.group(1) == "link" and 'rel="stylesheet"' not in tag and "preload" not in tag:
                continue
            offenders.append(f"{page.relative_to(built_site)}: {match.group(4)}")
    assert not offenders, "pages load resources from outside hosts:\n" + "\n".join(offenders)


def test_the_request_check_can_fail(controls, proxy):
    base, background = controls
    before = len(proxy.hosts)
    _run_chromium(["--dump-dom", f"{base}/external.html"], proxy.server_address[1])
    assert "cdn.example.org" in set(proxy.hosts[before:]) - background


@pytest.mark.parametrize("path,has_math", PAGES)
def test_page_renders_offline_in_chromium(served, controls, path, has_math):
    base, proxy = served
    _, background = controls
    before = len(proxy.hosts)
    result = _run_chromium(["--dump-dom", f"{base}/{path}"], proxy.server_address[1])
    dom = result.stdout
    assert result.returncode == 0 and "<html" in dom, result.stderr[-2000:]
    requested = set(proxy.hosts[before:]) - background
    assert not requested, f"{path} asked for outside hosts: {sorted(requested)}"
    if has_math:
        assert "mjx-container" in dom, f"{path}: MathJax did not typeset the math"
        assert "$$" not in re.sub(r"<[^>]+>", "", dom.split("<main", 1)[-1])[:20000]


def test_screenshots(served, repo_root):
    """Screenshots of key pages into _build/screenshots/ for people to look at."""
    base, proxy = served
    out = repo_root / "_build" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    for path, _ in PAGES[:2]:
        target = out / (path.replace("/", "_").replace(".html", ".png"))
        result = _run_chromium(
            [f"--screenshot={target}", "--window-size=1280,900", f"{base}/{path}"],
            proxy.server_address[1],
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert target.exists() and target.stat().st_size > 10_000

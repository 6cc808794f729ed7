"""Shared test setup: offline Hugging Face, the repository root, and the built website."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

# Tests never touch the Hugging Face Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def built_site() -> Path:
    """Build the real book once per test session (warnings are errors) and return _build/html."""
    result = subprocess.run(
        [str(BIN / "jupyter-book"), "build", str(ROOT), "--warningiserror", "--keep-going"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if result.returncode != 0:
        pytest.fail("jupyter-book build failed:\n" + (result.stdout + result.stderr)[-6000:])
    html = ROOT / "_build" / "html"
    # As `make book` does: the slide decks go with the website (the guide links to them).
    slides = [str(BIN / "python"), "tools/slides.py", "build", "--out", str(html / "slides")]
    result = subprocess.run(slides, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        pytest.fail("tools/slides.py build failed:\n" + (result.stdout + result.stderr)[-6000:])
    assert (html / "index.html").exists()
    return html


@pytest.fixture
def no_network(monkeypatch):
    """Make any attempt to open a connection fail loudly (and not as an OSError)."""

    def refuse(*args, **kwargs):
        raise RuntimeError("test tried to use the network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)

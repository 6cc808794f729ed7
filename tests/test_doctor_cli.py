"""The setup check and the command line."""

from __future__ import annotations

import subprocess
import sys

from gptlab import checkup as doctor
from gptlab import cli


def test_doctor_is_ready_here(capsys):
    report = doctor.doctor(check_network=False)
    out = capsys.readouterr().out
    assert report.ready, out
    assert out.strip().splitlines()[-1].startswith("ready")
    for name in ["python", "torch", "transformers", "device", "data cache", "data: shakespeare"]:
        assert any(c.name == name for c in report.checks), name


def test_doctor_says_how_to_fix_a_missing_package(monkeypatch):
    real = doctor._version
    monkeypatch.setattr(doctor, "_version", lambda d: None if d == "safetensors" else real(d))
    report = doctor.doctor(check_network=False, print_report=False)
    assert not report.ready
    line = next(c for c in report.checks if c.name == "safetensors")
    assert line.status == "FIX" and "pip install" in line.detail
    assert report.text().splitlines()[-1].startswith("not ready")


def test_doctor_reports_missing_data(monkeypatch, tmp_path):
    monkeypatch.setenv("GPTLAB_DATA_DIR", str(tmp_path))
    report = doctor.doctor(check_network=False, print_report=False)
    line = next(c for c in report.checks if c.name == "data: shakespeare")
    assert line.status == "FIX" and "gptlab data fetch" in line.detail


def test_cli_doctor_and_data(capsys):
    assert cli.main(["doctor", "--no-network"]) == 0
    assert "ready" in capsys.readouterr().out
    assert cli.main(["data", "status"]) == 0
    assert "ready" in capsys.readouterr().out


def test_console_script_is_installed():
    exe = __import__("pathlib").Path(sys.executable).parent / "gptlab"
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "doctor" in result.stdout


def test_gptlab_doctor_can_be_called_twice():
    import gptlab

    assert gptlab.doctor(check_network=False, print_report=False).ready
    assert gptlab.doctor(check_network=False, print_report=False).ready

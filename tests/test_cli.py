"""The command-line contract of DESIGN.md section 4."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import main as cli

REPO = Path(__file__).resolve().parent.parent


def test_bad_arguments_exit_with_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["estimate", "clip.mp4", "--hand", "both"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_import_mano_reports_bad_files_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "MANO_RIGHT.pkl"
    bad.write_bytes(b"garbage")
    assert cli.main(["import-mano", str(bad)]) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err


def test_bench_json_reports_fk_medians() -> None:
    out = subprocess.run(
        [sys.executable, "main.py", "bench", "--json", "--repeats", "3"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    results = json.loads(out.stdout)
    for key in (
        "device",
        "threads",
        "fk_default_1_ms_p50",
        "fk_default_1000_ms_p50",
        "fk_procedural_1000_ms_p50",
    ):
        assert key in results
    assert 0 < results["fk_default_1_ms_p50"] < results["fk_default_1000_ms_p50"]
    assert results["fk_default_1000_speedup_vs_smplx"] > 0

"""Atomic writes: a write the OS refuses (disk full, file-size limit) leaves the old file intact."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engine.files import write_npz_atomic

REPO = Path(__file__).resolve().parents[2]


def test_round_trip_and_no_temporary_files_left(tmp_path: Path) -> None:
    path = write_npz_atomic(tmp_path / "sub" / "a.npz", {"x": np.arange(5)})
    np.testing.assert_array_equal(np.load(path)["x"], np.arange(5))
    assert [p.name for p in path.parent.iterdir()] == ["a.npz"]


@pytest.mark.skipif(sys.platform == "win32", reason="needs POSIX resource limits")
def test_a_write_the_os_refuses_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "motion.npz"
    write_npz_atomic(path, {"x": np.arange(10)})
    before = path.read_bytes()
    # A file-size limit makes the kernel refuse the write part-way (EFBIG), like a full disk does.
    script = textwrap.dedent(
        f"""
        import resource, signal, sys
        import numpy as np
        sys.path.insert(0, {str(REPO)!r})
        from engine.files import write_npz_atomic
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        try:
            write_npz_atomic({str(path)!r}, {{"x": np.random.default_rng(0).random(100_000)}})
        except OSError as exc:
            print("refused", exc.errno)
            sys.exit(0)
        sys.exit(1)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("refused")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["motion.npz"]

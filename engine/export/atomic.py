"""Atomic output for exporters that write bytes or let another program write the file.

Same rule as engine.files.write_npz_atomic (which the NPZ export uses): the data goes to a hidden
temporary file beside the target, is fsynced, then renamed over it, so a full disk, an error or a
kill never leaves a half-written export, and an existing file stays as it was.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from engine import files
from engine.errors import UniHandError


class ExportError(UniHandError):
    """An export could not be written; the message names the file and the reason."""


def describe_os_error(exc: OSError) -> str:
    return exc.strerror or str(exc)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """`engine.files.atomic_path`, with OS errors reported as `ExportError`s naming the file."""
    try:
        with files.atomic_path(path) as tmp:
            yield tmp
    except OSError as exc:
        raise ExportError(f"{path}: cannot write the file ({describe_os_error(exc)})") from exc


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        # O_EXCL: never follow or reuse something already at the temporary name.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
    return path

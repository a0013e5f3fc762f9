"""Atomic output for exporters that write bytes or let another program write the file.

Same rule as engine.files.write_npz_atomic (which the NPZ export uses): the data goes to a hidden
temporary file beside the target, is fsynced, then renamed over it, so a full disk, an error or a
kill never leaves a half-written export, and an existing file stays as it was.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from engine.errors import UniHandError


class ExportError(UniHandError):
    """An export could not be written; the message names the file and the reason."""


def describe_os_error(exc: OSError) -> str:
    return exc.strerror or str(exc)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; on success it replaces `path` atomically.

    The temporary name keeps the target's suffix (Blender's exporters insist on it).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"{path}: cannot create the folder ({describe_os_error(exc)})") from exc
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(6)}.tmp{path.suffix}")
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write the file ({describe_os_error(exc)})") from exc
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        # O_EXCL: never follow or reuse something already at the temporary name.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
    return path


def _fsync_dir(directory: Path) -> None:
    if not hasattr(os, "O_DIRECTORY"):
        return
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

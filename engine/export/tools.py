"""The outside programs export uses, each kept out of the application's own environment.

- Blender as a module (`bpy`, DESIGN.md section 5) writes FBX. It pins numpy<2 and its scene reset
  is global, so it never enters the application's Python: it lives in its own virtual environment
  under the tools directory and runs only in a child process (engine/export/fbx.py).
- The Khronos glTF validator (npm package `gltf-validator`) checks GLB files; it lives in a node
  folder under the same tools directory.

The tools directory is `UNIHAND_TOOLS_DIR` if set, else `<user data dir>/tools` (on Linux
~/.local/share/unihand-studio/tools). It is deliberately not `engine.paths.user_data_dir()`: tests
point that at a fresh folder per test, and a ~1 GB Blender must be installed once per machine.
`UNIHAND_BLENDER_PYTHON` may name any Python that can `import bpy` (e.g. an existing install).

Install both with `python -m engine.export.tools install` (README, .ci/run). This module uses only
the standard library so that it runs before the project's own dependencies are installed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from engine.errors import UniHandError

BPY_VERSION = "5.0.1"
# bpy 5.0.1 is the last release for Python 3.11 (DESIGN.md section 5).
BPY_REQUIREMENT = f"bpy=={BPY_VERSION}"
BPY_PYTHON = (3, 11)  # the only Python bpy 5.0.1 has wheels for; the venv is made from it
GLTF_VALIDATOR_REQUIREMENT = "gltf-validator@2.0.0-dev.3.10"
_COMPLETE_MARKER = "unihand-complete.json"


class ToolMissingError(UniHandError):
    """An export tool is not installed; the message says how to install it."""


def tools_dir() -> Path:
    """Where the export tools live (see the module docstring)."""
    override = os.environ.get("UNIHAND_TOOLS_DIR")
    if override:
        return Path(override)
    try:
        import platformdirs

        base = Path(platformdirs.user_data_dir("unihand-studio", "UniHand"))
    except ImportError:  # before `pip install -e .`: the same place platformdirs picks on Linux
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "unihand-studio"
    return base / "tools"


def blender_venv_dir() -> Path:
    return tools_dir() / f"bpy-{BPY_VERSION}"


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def blender_python() -> Path | None:
    """A Python that imports bpy, or None when Blender as a module is not installed."""
    override = os.environ.get("UNIHAND_BLENDER_PYTHON")
    if override:
        return Path(override) if Path(override).is_file() else None
    venv = blender_venv_dir()
    if (venv / _COMPLETE_MARKER).is_file() and _venv_python(venv).is_file():
        return _venv_python(venv)
    return None


def require_blender_python() -> Path:
    python = blender_python()
    if python is None:
        raise ToolMissingError(
            f"FBX export needs Blender as a module ({BPY_REQUIREMENT}, about 1 GB, in its own environment "
            f"under {tools_dir()}); install it once with `python -m engine.export.tools install blender`"
        )
    return python


def install_blender(force: bool = False, quiet: bool = False) -> Path:
    """Create the Blender virtual environment (idempotent) and return its Python."""
    venv = blender_venv_dir()
    python = _venv_python(venv)
    if not force and (venv / _COMPLETE_MARKER).is_file() and python.is_file():
        return python
    if sys.version_info[:2] != BPY_PYTHON:
        raise ToolMissingError(
            f"{BPY_REQUIREMENT} needs Python {BPY_PYTHON[0]}.{BPY_PYTHON[1]}: run this installer with "
            "that Python, or point UNIHAND_BLENDER_PYTHON at a Python that imports bpy"
        )
    # A folder without the marker is a half-finished install: start again from nothing.
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    _log(quiet, f"creating {venv} and installing {BPY_REQUIREMENT} (about 1 GB, once)")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(python), "-m", "pip", "install", "--disable-pip-version-check"]
    subprocess.run([*pip, *(["-qq"] if quiet else []), BPY_REQUIREMENT], check=True)
    probe = "import bpy, numpy; print(bpy.app.version_string, numpy.__version__)"
    out = subprocess.run([str(python), "-I", "-c", probe], check=True, capture_output=True, text=True)
    versions = out.stdout.split()
    (venv / _COMPLETE_MARKER).write_text(json.dumps({"bpy": versions[0], "numpy": versions[1]}))
    _log(quiet, f"Blender {versions[0]} ready ({python})")
    return python


def gltf_validator_dir() -> Path | None:
    """The node_modules folder holding gltf-validator, or None when it is not installed."""
    folder = tools_dir() / "node" / "node_modules"
    return folder if (folder / "gltf-validator" / "package.json").is_file() else None


def install_gltf_validator(quiet: bool = False) -> Path:
    if gltf_validator_dir() is not None:
        return gltf_validator_dir()  # type: ignore[return-value]
    npm = shutil.which("npm")
    if npm is None:
        raise ToolMissingError("installing the glTF validator needs node and npm on the PATH")
    prefix = tools_dir() / "node"
    prefix.mkdir(parents=True, exist_ok=True)
    _log(quiet, f"installing {GLTF_VALIDATOR_REQUIREMENT} into {prefix}")
    cmd = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", GLTF_VALIDATOR_REQUIREMENT]
    subprocess.run([*cmd, *(["--silent"] if quiet else [])], check=True)
    return prefix / "node_modules"


def _log(quiet: bool, message: str) -> None:
    if not quiet:
        print(message, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.export.tools", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    inst = sub.add_parser("install", help="install Blender as a module and/or the glTF validator")
    inst.add_argument("what", nargs="?", choices=("all", "blender", "validator"), default="all")
    inst.add_argument("--force", action="store_true", help="reinstall Blender from scratch")
    inst.add_argument("-q", "--quiet", action="store_true")
    sub.add_parser("status", help="say what is installed where")
    args = parser.parse_args(argv)
    if args.action == "status":
        print(f"tools directory: {tools_dir()}")
        print(f"blender python:  {blender_python() or 'not installed'}")
        print(f"gltf-validator:  {gltf_validator_dir() or 'not installed'}")
        return 0
    if args.what in ("all", "blender"):
        install_blender(force=args.force, quiet=args.quiet)
    if args.what in ("all", "validator"):
        install_gltf_validator(quiet=args.quiet)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

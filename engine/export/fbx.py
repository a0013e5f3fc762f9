"""FBX export through Blender as a module, run in a child process with its own Python.

Why a child process in its own environment (engine/export/tools.py): bpy pins numpy<2, which the
engine does not run on, and Blender's scene reset is global, so a bpy inside the application could
wipe or be wiped by any other user of it. The child gets the rig as arrays in a temporary folder,
builds the armature, skinned mesh and keyframes, and writes the FBX to a temporary name beside the
target; this process then renames it into place (nothing half-written, engine/export/atomic.py).
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.export.atomic import ExportError, atomic_path
from engine.export.rig import DISTAL_JOINTS, HandRig
from engine.export.tools import require_blender_python

if TYPE_CHECKING:
    from engine.export.api import ExportProgress

WORKER = Path(__file__).with_name("blender_worker.py")
# Blender starts in about a second; a 1,000-frame hand exports in a few. Anything near this is hung.
TIMEOUT_S = 600


PROGRESS_PREFIX = "UNIHAND-PROGRESS "  # worker stdout lines: prefix, fraction 0-1, a label


def _run_worker(mode: str, job: dict, folder: Path, progress: ExportProgress | None = None) -> None:
    python = require_blender_python()
    job_path = folder / "job.json"
    job_path.write_text(json.dumps(job))
    # -I: ignore PYTHONPATH / user site, so nothing from the application's environment leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    # One merged stream, read line by line: the worker's progress arrives as it happens, and
    # neither pipe can fill up and stall Blender.
    proc = subprocess.Popen(
        [str(python), "-I", str(WORKER), mode, str(job_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=folder,
    )
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        proc.kill()

    timer = threading.Timer(TIMEOUT_S, kill)
    timer.start()
    tail: collections.deque[str] = collections.deque(maxlen=50)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(PROGRESS_PREFIX):
                fraction, _, label = line[len(PROGRESS_PREFIX) :].strip().partition(" ")
                if progress is not None:
                    progress(float(fraction), label)
            elif line.strip():
                tail.append(line.rstrip())
        returncode = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:  # the reader failed (a progress callback raised): do not leave it running
            proc.kill()
            proc.wait()
    if killed.is_set():
        raise ExportError(f"Blender did not finish within {TIMEOUT_S} s")
    if returncode != 0:
        # The last line of Blender's output names the exception; the traceback is for developers.
        reason = tail[-1].strip() if tail else "no output"
        raise ExportError(f"Blender failed ({mode}, exit {returncode}): {reason}")


def _job_arrays(rigs: Sequence[HandRig]) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {"distal_joints": np.array(DISTAL_JOINTS)}
    for h, rig in enumerate(rigs):
        p = f"h{h}_"
        arrays.update(
            {
                p + "rest_joints": rig.rest_joints,
                p + "rest_tips": rig.rest_tips,
                p + "parents": np.array(rig.parents),
                p + "rest_vertices": rig.rest_vertices,
                p + "faces": rig.faces,
                p + "weights": rig.weights,
                p + "rotations": rig.rotations,
                p + "root_positions": rig.root_positions,
            }
        )
    return arrays


def write_fbx(path: Path, rigs: Sequence[HandRig], progress: ExportProgress | None = None) -> Path:
    """Write the hands in `rigs` (one armature + skinned mesh each, one take) to `path`;
    `progress(fraction, label)` follows Blender's stages."""
    require_blender_python()  # fail before any work when Blender is missing
    with tempfile.TemporaryDirectory(prefix="unihand-fbx-") as tmp, atomic_path(path) as target:
        folder = Path(tmp)
        np.savez(folder / "arrays.npz", **_job_arrays(rigs))
        job = {
            "arrays": str(folder / "arrays.npz"),
            "output": str(target),
            "fps": float(rigs[0].fps),
            "frames": [r.num_frames for r in rigs],
            "hands": [{"names": list(r.names), "side": r.side} for r in rigs],
        }
        _run_worker("export", job, folder, progress)
        if not target.is_file():
            raise ExportError(f"{path}: Blender reported success but wrote no file")
    return path


@dataclass(frozen=True)
class BlenderView:
    """What Blender shows after importing a file (joint and vertex positions in export axes)."""

    fps: float
    keyed_frames: tuple[float, float, int]  # first, last, count of keyed frames
    sampled_frames: list[int]
    armatures: list[dict]  # name, bones, parents (names) per armature
    meshes: list[dict]  # name, vertices per mesh object
    heads: list[np.ndarray]  # per armature (F,B,3) bone heads, bones in armature order
    vertices: list[np.ndarray]  # per mesh (F,V,3) deformed vertices
    fbx_settings: dict  # FBX GlobalSettings (UnitScaleFactor, UpAxis...) for FBX files, else {}


def inspect_in_blender(
    path: str | os.PathLike[str], fps: float, max_frames: int | None = None, render: str | None = None
) -> BlenderView:
    """Import an FBX, GLB or BVH file into a fresh Blender and sample every keyed frame
    (the first `max_frames`), optionally rendering the middle one to a PNG at `render`."""
    with tempfile.TemporaryDirectory(prefix="unihand-inspect-") as tmp:
        folder = Path(tmp)
        job = {
            "input": str(Path(path).resolve()),
            "fps": float(fps),
            "output": str(folder / "sampled.npz"),
            "report": str(folder / "report.json"),
            "max_frames": max_frames,
            "render": render,
        }
        _run_worker("inspect", job, folder)
        report = json.loads((folder / "report.json").read_text())
        with np.load(folder / "sampled.npz") as npz:
            heads = [npz[f"arm{a}_heads"] for a in range(len(report["armatures"]))]
            vertices = [npz[f"mesh{m}_vertices"] for m in range(len(report["meshes"]))]
    return BlenderView(
        fps=report["fps"],
        keyed_frames=tuple(report["keyed_frames"]),  # type: ignore[arg-type]
        sampled_frames=report["sampled_frames"],
        armatures=report["armatures"],
        meshes=report["meshes"],
        heads=heads,
        vertices=vertices,
        fbx_settings=report.get("fbx_settings", {}),
    )

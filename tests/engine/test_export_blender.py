"""Round trips through Blender 5.0.1 (its own process and environment, engine/export/tools.py):
export FBX and re-import it, and import the GLB and BVH, as a user's Blender would; joints and
skinned vertices must match the engine's forward kinematics within 0.1 mm."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.export import ExportError, export_motion, export_motions
from engine.export.fbx import BlenderView, inspect_in_blender
from engine.export.rig import bone_names, reference_pose
from engine.export.tools import ToolMissingError, blender_python
from engine.hand.skeleton import MANO_PARENTS
from engine.motion.io import save_motion
from tests.engine.test_export import MIRROR_X, REPO, TOL_M, require_tool, smooth_motion

pytestmark = pytest.mark.slow  # each Blender start costs about a second, an FBX export a few


@pytest.fixture(autouse=True)
def _blender() -> None:
    require_tool(blender_python() is not None, "Blender as a module (bpy 5.0.1, own environment)")


def _armature(view: BlenderView, side: str) -> tuple[int, list[int]]:
    """Index of the armature holding `side`'s bones and the order that puts them in MANO order."""
    names = bone_names(side)
    for a, arm in enumerate(view.armatures):
        if arm["bones"] and arm["bones"][0].startswith(names[0]):
            assert sorted(arm["bones"]) == sorted(names), arm["bones"]
            parents = dict(zip(arm["bones"], arm["parents"], strict=True))
            expected = {n: (names[p] if p >= 0 else None) for n, p in zip(names, MANO_PARENTS, strict=True)}
            assert parents == expected
            return a, [arm["bones"].index(n) for n in names]
    raise AssertionError(f"no {side} armature among {[a['name'] for a in view.armatures]}")


def _mesh(view: BlenderView, side: str) -> int:
    label = bone_names(side)[0]
    return next(m for m, mesh in enumerate(view.meshes) if mesh["name"].startswith(label))


def test_fbx_with_both_hands_reimports_in_blender_as_exported(tmp_path: Path) -> None:
    fps, frames = 24.0, 30
    right = smooth_motion(frames=frames, fps=fps, side="right")
    left = smooth_motion(frames=frames, fps=fps, side="left")
    out = tmp_path / "hands.fbx"
    export_motions([right, left], out)
    view = inspect_in_blender(out, fps=fps, render=str(tmp_path / "frame.png"))
    # Keys land on frames 0 .. T-1 (anim_offset=0 on import, DESIGN.md section 5), at the motion's fps.
    assert view.keyed_frames == (0.0, frames - 1.0, frames)
    assert view.fps == pytest.approx(fps)
    assert view.sampled_frames == list(range(frames))
    # What Maya or Unity read: y up, z front, and 1 unit = 100 cm, the values being metres.
    settings = view.fbx_settings
    assert (settings["UpAxis"], settings["UpAxisSign"], settings["FrontAxis"]) == (1, 1, 2)
    assert settings["UnitScaleFactor"] == 100.0
    results = {}
    for motion in (right, left):
        ref = reference_pose(motion)
        a, order = _armature(view, motion.handedness)
        joints = view.heads[a][:, order]
        vertices = view.vertices[_mesh(view, motion.handedness)]
        assert np.abs(joints - ref.joints).max() < TOL_M
        assert vertices.shape == ref.vertices.shape  # Blender's FBX import keeps vertex order
        assert np.abs(vertices - ref.vertices).max() < TOL_M
        results[motion.handedness] = (joints, vertices)
    # The left motion mirrors the right one, and so does what Blender shows.
    assert np.abs(results["left"][0] - results["right"][0] * MIRROR_X).max() < TOL_M
    assert (tmp_path / "frame.png").stat().st_size > 1000  # Blender rendered the imported hands


def test_glb_and_bvh_reimport_in_blender(tmp_path: Path) -> None:
    fps, frames = 30.0, 20
    motion = smooth_motion(frames=frames, fps=fps, side="left", seed=3)
    ref = reference_pose(motion)
    glb, bvh = tmp_path / "hands.glb", tmp_path / "hand.bvh"
    export_motions([motion, smooth_motion(frames=frames, fps=fps, side="right")], glb)
    export_motion(motion, bvh)

    view = inspect_in_blender(glb, fps=fps)
    assert view.keyed_frames == (0.0, frames - 1.0, frames)
    # One armature object per hand, named as documented (not one armature holding both).
    assert [(a["name"], len(a["bones"])) for a in view.armatures] == [
        ("RightHandArmature", 16),
        ("LeftHandArmature", 16),
    ]
    a, order = _armature(view, "left")
    assert np.abs(view.heads[a][:, order] - ref.joints).max() < TOL_M
    vertices = view.vertices[_mesh(view, "left")]
    assert vertices.shape == ref.vertices.shape
    assert np.abs(vertices - ref.vertices).max() < TOL_M

    view = inspect_in_blender(bvh, fps=fps)
    assert view.fps == pytest.approx(fps)  # Blender's BVH import takes the rate from Frame Time
    # Blender's BVH importer never starts before frame 1 (it clamps Frame Start): frame f lands on f+1.
    assert view.keyed_frames == (1.0, float(frames), frames)
    a, order = _armature(view, "left")
    assert np.abs(view.heads[a][:, order] - ref.joints).max() < TOL_M


_FULL_DISK_SCRIPT = """
import resource, signal, sys
sys.path.insert(0, sys.argv[1])
from engine.export import ExportError, export_motion
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # inherited by the Blender child
try:
    export_motion(sys.argv[2], sys.argv[3])
    print("written")
except ExportError as exc:
    print("ExportError", exc)
"""


def test_fbx_on_a_full_disk_leaves_the_old_file_untouched(tmp_path: Path) -> None:
    motion = tmp_path / "m.npz"
    save_motion(motion, smooth_motion(frames=10))
    out = tmp_path / "out.fbx"
    out.write_bytes(b"previous export")
    run = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_SCRIPT, str(REPO), str(motion), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.stdout.startswith("ExportError") and "out.fbx" in run.stdout, run.stdout + run.stderr
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz", "out.fbx"]


def test_fbx_without_blender_says_how_to_install_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UNIHAND_TOOLS_DIR", str(tmp_path / "empty-tools"))
    monkeypatch.delenv("UNIHAND_BLENDER_PYTHON", raising=False)
    with pytest.raises(ToolMissingError, match=r"python -m engine\.export\.tools install blender"):
        export_motion(smooth_motion(frames=2), tmp_path / "hand.fbx")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_failing_blender_process_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The application's own Python has no bpy: the child starts, fails, and reports why.
    monkeypatch.setenv("UNIHAND_BLENDER_PYTHON", sys.executable)
    out = tmp_path / "hand.fbx"
    out.write_bytes(b"previous export")
    with pytest.raises(ExportError, match=r"Blender failed \(export.*No module named 'bpy'"):
        export_motion(smooth_motion(frames=3), out)
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hand.fbx"]

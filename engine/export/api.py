"""Export entry point for the CLI and the app: motion file(s) -> FBX, GLB, BVH or NPZ.

`export_motions` takes one hand, or both hands of a session (one right, one left) to put into one
file. Everything is checked before anything is written, and every format is written atomically,
so a bad input, an unwritable folder or a full disk leaves no partial file behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.export.atomic import ExportError, atomic_path, write_bytes_atomic
from engine.motion.types import HandMotion

FORMATS: dict[str, str] = {
    ".fbx": "FBX (Blender as a module): skinned mesh, 16-bone armature, keyframes",
    ".glb": "glTF 2.0 binary: skinned mesh, 16-joint skin, keyframes",
    ".bvh": "BVH: the skeleton's motion (no mesh)",
    ".npz": "UniHand motion file (unihand.motion/1)",
}

PathLike = str | os.PathLike[str]
# progress(fraction 0-1, what is happening): stages, not frames; FBX reports Blender's own stages.
ExportProgress = Callable[[float, str], None]


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: str
    hands: tuple[str, ...]
    frames: int
    fps: float
    notes: tuple[str, ...]  # what the format could not carry, said to the user


def _load(item: HandMotion | PathLike) -> HandMotion:
    if isinstance(item, HandMotion):
        return item
    from engine.motion.io import load_motion

    return load_motion(item)


def _check_hands(motions: Sequence[HandMotion], suffix: str) -> None:
    if not motions:
        raise ExportError("nothing to export: no motion given")
    if len(motions) > 2:
        raise ExportError(f"an export holds at most two hands (one right, one left), got {len(motions)}")
    if len(motions) == 2:
        sides = [m.handedness for m in motions]
        if sorted(sides) != ["left", "right"]:
            raise ExportError(f"two hands in one file must be one right and one left, got {sides}")
        if motions[0].fps != motions[1].fps:
            raise ExportError(
                f"both hands must share one frame rate, got {motions[0].fps:g} and {motions[1].fps:g} fps"
            )
        if suffix == ".npz":
            raise ExportError("a motion (.npz) file holds one hand: export each hand to its own file")
        frames = [m.global_orient.shape[0] for m in motions]
        if suffix == ".bvh" and frames[0] != frames[1]:
            raise ExportError(f"BVH has one frame count for the whole file; the hands have {frames} frames")


def export_motions(
    motions: Sequence[HandMotion | PathLike], output: PathLike, progress: ExportProgress | None = None
) -> ExportResult:
    """Write the motion(s) to `output`, the format chosen by its suffix (see FORMATS)."""

    def report(fraction: float, label: str) -> None:
        if progress is not None:
            progress(fraction, label)

    out = Path(output)
    suffix = out.suffix.lower()
    if suffix not in FORMATS:
        raise ExportError(f"{out}: unknown export format {out.suffix!r}; use one of {', '.join(FORMATS)}")
    if out.is_dir():
        raise ExportError(f"{out}: is a folder; give a file name ending in {suffix}")
    report(0.0, "checking the motion")
    loaded = [_load(m) for m in motions]
    _check_hands(loaded, suffix)
    # Right hand first, so a file's hand order never depends on argument order.
    loaded.sort(key=lambda m: m.handedness != "right")
    notes: list[str] = []
    if suffix == ".npz":
        from engine.motion.io import save_motion

        report(0.5, "writing the motion file")
        try:
            save_motion(out, loaded[0])
        except OSError as exc:
            raise ExportError(f"{out}: cannot write the file ({exc.strerror or exc})") from exc
    else:
        from engine.export.rig import build_rig

        report(0.05, "building the rig")
        rigs = [build_rig(m) for m in loaded]
        if any(r.pose_correctives_dropped for r in rigs) and suffix != ".bvh":
            notes.append(
                "the hand model's pose-corrective blend shapes cannot travel through plain skinning: "
                "joints are exact, the skin differs slightly where fingers bend (docs/export.md)"
            )
        if suffix == ".glb":
            from engine.export.gltf import glb_bytes

            report(0.5, "writing the GLB")
            write_bytes_atomic(out, glb_bytes(rigs))
        elif suffix == ".bvh":
            from engine.export.bvh import bvh_text

            notes.append("BVH holds the skeleton only (no mesh)")
            report(0.5, "writing the BVH")
            write_bytes_atomic(out, bvh_text(rigs).encode("ascii"))
        else:
            from engine.export.fbx import write_fbx

            report(0.15, "starting Blender")
            write_fbx(out, rigs, lambda f, label: report(0.15 + 0.85 * f, label))
    report(1.0, "done")
    return ExportResult(
        path=out,
        format=suffix[1:],
        hands=tuple(m.handedness for m in loaded),
        frames=max(m.global_orient.shape[0] for m in loaded),
        fps=loaded[0].fps,
        notes=tuple(notes),
    )


def export_motion(motion: HandMotion | PathLike, output: PathLike) -> ExportResult:
    """One hand: `export_motions([motion], output)`."""
    return export_motions([motion], output)


__all__ = ["FORMATS", "ExportError", "ExportResult", "atomic_path", "export_motion", "export_motions"]

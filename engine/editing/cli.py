"""`python main.py infill COND.npz|DIR ... -o MOTION.npz|OUTDIR [--samples N] [--seed S] [--steps K]`.

One process for every file (the model loads once). A file that fails is reported and the batch goes
on; the run ends with a summary (per file: frames, frames with no observation at all, quality lints)
on stdout and, for a directory output, in `OUTDIR/infill_report.json`. Exit status 1 if any failed.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.data.fit_files import resolve_inputs
from engine.editing.request import InfillRequest
from engine.errors import UniHandError
from engine.eval.metrics import bone_length_drift, jitter
from engine.files import write_text_atomic
from engine.hand import get_hand_model_data
from engine.hand.joint_limits import AnatomicalFrames, violation_rate
from engine.motion.io import load_conditions, save_motion
from engine.motion.types import Conditions, HandMotion


@dataclass
class FileReport:
    input: str
    output: str | None
    frames: int = 0
    unobserved_frames: int = 0  # frames where no condition says anything: pure generation
    seconds: float = 0.0
    jitter_mm: float = 0.0  # mean joint acceleration, mm / frame^2
    joint_limit_violation_rate: float = 0.0
    bone_length_drift_mm: float = 0.0
    error: str | None = None


def unobserved_frames(cond: Conditions) -> int:
    seen = np.zeros(cond.num_frames, dtype=bool)
    for channel in cond.channels:
        mask = cond.mask(channel)
        seen |= mask if mask.ndim == 1 else mask.any(axis=1)
    return int((~seen).sum())


def lint_motion(motion: HandMotion) -> dict[str, float]:
    frames = AnatomicalFrames.from_hand(get_hand_model_data(motion.hand_model, "right"))
    pose = motion.hand_pose
    if motion.handedness == "left":
        from engine.hand.mirror import mirror_axis_angle

        pose = mirror_axis_angle(pose)
    return {
        "jitter_mm": round(jitter(motion.joints), 3),
        "joint_limit_violation_rate": round(violation_rate(pose, frames, "right", tol_deg=5.0), 4),
        "bone_length_drift_mm": round(bone_length_drift(motion.joints), 4),
    }


def infill_paths(
    inputs: list[str],
    output: str,
    samples: int = 1,
    seed: int = 0,
    steps: int = 10,
    device: str | None = None,
    progress: bool = True,
) -> list[FileReport]:
    files, many = resolve_inputs(inputs)
    out = Path(output)
    if many and out.suffix.lower() == ".npz":
        raise UniHandError(f"{out}: several inputs need an output directory, not a file")
    from engine.editing.infill import load_infiller

    infiller = load_infiller(device)
    reports: list[FileReport] = []
    bar = tqdm(files, desc="infill", unit="file", disable=not progress)
    for path in bar:
        target = out / path.name if many else out
        report = FileReport(str(path), None)
        try:
            cond = load_conditions(path)
            report.frames = cond.num_frames
            report.unobserved_frames = unobserved_frames(cond)
            result = infiller(InfillRequest(cond, samples=samples, seed=seed, steps=steps))
            save_motion(target, result.motion)
            report.output = str(target)
            report.seconds = round(result.seconds, 3)
            for k, v in lint_motion(result.motion).items():
                setattr(report, k, v)
        except (UniHandError, ValueError, OSError) as exc:
            report.error = str(exc)
            tqdm.write(f"error: {path}: {exc}", file=sys.stderr)
        reports.append(report)
    _print_summary(reports)
    if many:
        write_text_atomic(out / "infill_report.json", json.dumps([asdict(r) for r in reports], indent=2))
    return reports


def _print_summary(reports: list[FileReport]) -> None:
    print(
        f"{'file':32s} {'frames':>7s} {'unseen':>7s} {'sec':>7s} {'jitter':>7s} {'limits':>7s} {'drift':>7s}"
    )
    for r in reports:
        name = Path(r.input).name[:32]
        if r.error:
            print(f"{name:32s} FAILED: {r.error}")
        else:
            print(
                f"{name:32s} {r.frames:7d} {r.unobserved_frames:7d} {r.seconds:7.2f} {r.jitter_mm:7.2f} "
                f"{r.joint_limit_violation_rate:7.3f} {r.bone_length_drift_mm:7.3f}"
            )
    failed = sum(r.error is not None for r in reports)
    print(f"{len(reports) - failed} written, {failed} failed")

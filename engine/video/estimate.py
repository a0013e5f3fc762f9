"""`python main.py estimate VIDEO -o MOTION.npz [--hand auto|right|left] [--device cpu|cuda]`.

Video -> MediaPipe 2D keypoints per frame, tracked per hand (engine.video.conditions) -> UniHand
diffusion conditioned on them (left hands mirrored in and out by the infiller) -> a motion file at
the video's frame rate with its camera (K from metadata or the default focal = max(W, H)).

What is not in yet: the paper's vision tokens (frozen backbone + hand perceptron) and the
first-frame initial pose; the model runs on the 2D keypoints alone, where the detector sees the
hand, and fills the frames where it does not.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.editing.request import InfillRequest
from engine.motion.io import save_motion
from engine.motion.types import HandMotion


@dataclass(frozen=True)
class EstimateResult:
    path: Path
    motion: HandMotion
    handedness: str
    frames: int
    detected_frames: int
    seconds: float


def estimate_video(
    video: str | Path,
    output: str | Path,
    hand: str = "auto",
    device: str | None = None,
    steps: int = 10,
    seed: int = 0,
    progress: bool = True,
) -> list[EstimateResult]:
    """Write one motion per tracked hand: `output` for the first, `<stem>_<side>.npz` for another."""
    import time

    from engine.editing.infill import load_infiller
    from engine.video.conditions import detect_conditions

    started = time.perf_counter()
    bar = tqdm(desc="detecting", unit="frame", disable=not progress)

    def on_frame(done: int, total: int | None) -> None:
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    tracks = detect_conditions(video, hand=hand, progress=on_frame)
    bar.close()
    infiller = load_infiller(device)
    out = Path(output)
    results = []
    for i, track in enumerate(tracks):
        target = out if i == 0 else out.with_name(f"{out.stem}_{track.handedness}{out.suffix}")
        steps_bar = tqdm(desc=f"{track.handedness} hand", unit="step", disable=not progress)

        def on_step(done: int, total: int, _preview: object, b: tqdm = steps_bar) -> None:
            b.total = total
            b.update(done - b.n)

        result = infiller(InfillRequest(track.conditions, steps=steps, seed=seed), progress=on_step)
        steps_bar.close()
        save_motion(target, result.motion)
        results.append(
            EstimateResult(
                target,
                result.motion,
                track.handedness,
                track.conditions.num_frames,
                track.num_detected,
                time.perf_counter() - started,
            )
        )
        if track.num_detected == 0:
            print(f"warning: no {track.handedness} hand detected in {video}", file=sys.stderr)
    return results


def reprojection_error_px(motion: HandMotion, track_conditions) -> float:
    """Median distance (px) between the motion's projected joints and the detected keypoints."""
    cam = track_conditions.camera()
    uv = np.asarray(cam.project(motion.joints))
    mask = track_conditions.kp2d_mask
    return float(np.median(np.linalg.norm(uv - track_conditions.kp2d, axis=-1)[mask]))

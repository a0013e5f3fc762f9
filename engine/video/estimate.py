"""`python main.py estimate VIDEO -o MOTION.npz [--hand auto|right|left] [--vision auto|on|off]`.

Video -> MediaPipe 2D keypoints per frame, tracked per hand (engine.video.conditions), and, on a
second thread at the same time, the frozen backbone's dense tokens of every frame
(engine.video.vision) -> the hand perceptron's token per frame, with the first frame where the
hand is detected as its initial pose -> UniHand diffusion conditioned on vision + 2D keypoints
(the paper's default for estimation; left hands mirrored in and out) -> a motion file at the
video's frame rate with its camera (K from metadata or the default focal = max(W, H)).
`--vision off` conditions on the 2D keypoints alone (the editor's model).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from engine.editing.request import InfillRequest
from engine.motion.io import save_motion
from engine.motion.types import HandMotion

if TYPE_CHECKING:
    from engine.video.conditions import VideoTrack


@dataclass(frozen=True)
class EstimateResult:
    path: Path
    motion: HandMotion
    handedness: str
    frames: int
    detected_frames: int
    seconds: float
    track: VideoTrack  # the detections the motion was estimated from


def estimate_video(
    video: str | Path,
    output: str | Path,
    hand: str = "auto",
    device: str | None = None,
    steps: int = 10,
    seed: int = 0,
    progress: bool = True,
    vision: bool = True,
) -> list[EstimateResult]:
    """Write one motion per tracked hand: `output` for the first, `<stem>_<side>.npz` for another."""
    import threading
    import time

    from engine.editing.infill import load_infiller
    from engine.video.conditions import detect_conditions
    from engine.video.vision import (
        DenseTokens,
        backbone_for,
        dense_tokens_to_file,
        temporary_tokens_path,
        track_hand_tokens,
    )

    started = time.perf_counter()
    infiller = load_infiller(device, vision=vision)  # first: a missing checkpoint fails before any work
    out = Path(output)
    dense: dict[bool, DenseTokens] = {}  # mirrored? -> dense tokens of every frame
    temporary: list[Path] = []
    failure: list[BaseException] = []
    backbone = backbone_for(infiller.perceptron) if vision else None

    def tokens_for(mirror: bool) -> None:
        try:
            path = temporary_tokens_path(out)
            temporary.append(path)
            dense[mirror] = dense_tokens_to_file(video, backbone, path, mirror=mirror)
        except BaseException as exc:  # re-raised on the calling thread
            failure.append(exc)

    try:
        worker = None
        if vision:
            # The backbone reads the video while MediaPipe does: two decoders, two cores busy.
            worker = threading.Thread(target=tokens_for, args=(hand == "left",), name="unihand-backbone")
            worker.start()
        bar = tqdm(desc="detecting", unit="frame", disable=not progress)

        def on_frame(done: int, total: int | None) -> None:
            if total and bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        try:
            tracks = detect_conditions(video, hand=hand, progress=on_frame)
        finally:
            bar.close()
            if worker is not None:
                worker.join()
        if failure:
            raise failure[0]
        results = []
        for i, track in enumerate(tracks):
            target = out if i == 0 else out.with_name(f"{out.stem}_{track.handedness}{out.suffix}")
            cond = track.conditions
            tokens = None
            if vision:
                mirror = track.handedness == "left"
                if mirror not in dense:
                    tokens_for(mirror)
                    if failure:
                        raise failure[0]
                tokens = track_hand_tokens(infiller.perceptron, dense[mirror], cond, infiller.device)
            steps_bar = tqdm(desc=f"{track.handedness} hand", unit="step", disable=not progress)

            def on_step(done: int, total: int, _preview: object, b: tqdm = steps_bar) -> None:
                b.total = total
                b.update(done - b.n)

            request = InfillRequest(cond, steps=steps, seed=seed, vision=tokens)
            result = infiller(request, progress=on_step)
            steps_bar.close()
            save_motion(target, result.motion)
            results.append(
                EstimateResult(
                    target,
                    result.motion,
                    track.handedness,
                    cond.num_frames,
                    track.num_detected,
                    time.perf_counter() - started,
                    track,
                )
            )
            if track.num_detected == 0:
                print(f"warning: no {track.handedness} hand detected in {video}", file=sys.stderr)
        return results
    finally:
        dense.clear()
        for path in temporary:
            path.unlink(missing_ok=True)


def reprojection_error_px(motion: HandMotion, track_conditions) -> float:
    """Median distance (px) between the motion's projected joints and the detected keypoints."""
    cam = track_conditions.camera()
    uv = np.asarray(cam.project(motion.joints))
    mask = track_conditions.kp2d_mask
    return float(np.median(np.linalg.norm(uv - track_conditions.kp2d, axis=-1)[mask]))

"""The editor's first estimate of a video reads its frames too (the vision path), as `estimate` does;
without the vision model, or with frames it cannot read, it falls back to the keypoints and says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.engine_process import with_vision
from engine.editing.baseline import InterpolationInfiller
from engine.editing.infill import default_checkpoints, default_vision_checkpoint, load_infiller
from engine.editing.request import InfillRequest
from engine.motion.types import Conditions
from engine.video.encode import write_video

pytestmark = pytest.mark.skipif(
    not all(p.exists() for p in (*default_checkpoints(), default_vision_checkpoint())),
    reason="no model checkpoints in assets/model",
)


def _request(video: Path | str, frames: int = 12) -> InfillRequest:
    rng = np.random.default_rng(0)
    kp = rng.uniform(100, 200, (frames, 21, 2))
    cond = Conditions(
        fps=30.0, num_frames=frames, kp2d=kp, kp2d_mask=np.ones((frames, 21), bool),
        image_size=np.array([320, 180]), handedness="left",
    )  # fmt: skip
    return InfillRequest(cond, steps=2, vision_video=str(video))


def test_the_first_estimate_of_a_video_gets_its_hand_tokens(tmp_path: Path) -> None:
    frames = np.random.default_rng(1).integers(0, 256, (12, 180, 320, 3), dtype=np.uint8)
    video = write_video(tmp_path / "clip.mp4", frames, fps=30.0)
    editor = load_infiller("cpu")
    infiller, request, note = with_vision(editor, _request(video))
    assert note is None and infiller is load_infiller("cpu", vision=True) and infiller is not editor
    assert (
        request.vision.shape == (12, infiller.perceptron.config.vision_dim) and request.vision_video is None
    )
    motion = infiller(request).motion
    assert motion.num_frames == 12 and motion.handedness == "left" and np.isfinite(motion.joints).all()
    # Later edits carry no video: the editor's model, untouched.
    plain = InfillRequest(request.conditions, steps=2)
    assert with_vision(editor, plain) == (editor, plain, None)


def test_without_frames_or_a_vision_model_the_keypoints_alone(tmp_path: Path) -> None:
    editor = load_infiller("cpu")
    request = _request(tmp_path / "gone.mp4")
    infiller, same, note = with_vision(editor, request)
    assert (
        infiller is editor and same is request and "vision tokens unavailable" in note and "gone.mp4" in note
    )
    baseline = InterpolationInfiller()
    assert with_vision(baseline, request)[2] == "no vision model: estimated from the keypoints"

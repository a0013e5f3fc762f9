"""Video -> hand tokens for the denoiser: the frozen backbone, then the hand perceptron.

Two passes, so that the backbone can run while MediaPipe detects (`estimate` runs them on two
threads): `dense_tokens_to_file` streams the video through the backbone into a float16 .npy file beside
the output (a 10-minute 1280x720 video at 256x144 is 18,000 x 9 x 16 x 112 values, 580 MB on
disk, never all in memory); `hand_tokens` then runs the perceptron over it in chunks,
with the initial pose from the first frame where the detector saw the hand. Left hands are handled
in the model's right-hand picture: their frames are mirrored before the backbone (`mirror=True`)
and their initial keypoints mirrored too.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from engine.model.backbone import VisionBackbone
from engine.model.perceptron import HandPerceptron
from engine.video.decode import VideoReader

CHUNK = 240  # frames per perceptron call


def backbone_for(
    perceptron: HandPerceptron, weights_path: str | os.PathLike[str] | None = None
) -> VisionBackbone:
    """The backbone the perceptron was trained on: its layer, frames resized to its longer side."""
    c = perceptron.config
    return VisionBackbone(
        layer=c.layer, max_side=max(c.width, c.height), weights_path=weights_path, batch_size=8
    )


class DenseTokens:
    """Dense tokens (T, H', W', C) float16 in a .npy file, read a slice at a time with plain file
    reads: a memory map would count every page it touched as resident memory."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            major, _ = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(fh)
            self.offset = fh.tell()
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, frames: slice) -> np.ndarray:
        start, stop, step = frames.indices(len(self))
        if step != 1:
            raise IndexError("DenseTokens reads contiguous frame ranges only")
        per_frame = int(np.prod(self.shape[1:]))
        count = max(0, stop - start) * per_frame
        with open(self.path, "rb") as fh:
            fh.seek(self.offset + start * per_frame * self.dtype.itemsize)
            data = np.fromfile(fh, dtype=self.dtype, count=count)
        return data.reshape(-1, *self.shape[1:])


def dense_tokens_to_file(
    video: str | os.PathLike[str] | VideoReader,
    backbone: VisionBackbone,
    out_path: str | os.PathLike[str],
    mirror: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> DenseTokens:
    """Every frame's dense tokens, streamed into a float16 .npy file at `out_path`."""
    reader = video if isinstance(video, VideoReader) else VideoReader(video)
    try:
        info = reader.info
        h, w = backbone.token_grid(info.width, info.height)
        shape = (info.num_frames, h, w, backbone.channels)
        with open(out_path, "wb") as fh:
            header = {"descr": np.dtype(np.float16).str, "fortran_order": False, "shape": shape}
            np.lib.format.write_array_header_1_0(fh, header)
            batch: list[np.ndarray] = []
            written = 0

            def flush() -> None:
                nonlocal written, batch
                if batch:
                    fh.write(backbone(np.stack(batch)).numpy().astype(np.float16).tobytes())
                    written += len(batch)
                    batch = []
                    if progress is not None:
                        progress(written, info.num_frames)

            for frame in reader.frames():
                batch.append(frame.image[:, ::-1] if mirror else frame.image)
                if len(batch) == backbone.batch_size:
                    flush()
            flush()
        if written != info.num_frames:
            raise ValueError(f"{out_path}: wrote {written} frames of tokens, the video has {info.num_frames}")
        return DenseTokens(out_path)
    finally:
        if reader is not video:
            reader.close()


@torch.no_grad()
def hand_tokens(
    perceptron: HandPerceptron,
    dense: np.ndarray | DenseTokens,
    init_kp2d_norm: np.ndarray | None,
    init_mask: np.ndarray | None,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """(T,H',W',C) dense tokens -> (T, V) hand tokens, `CHUNK` frames at a time.

    Each chunk takes `context` real frames either side, so chunk borders see what the middle does.
    `init_kp2d_norm` (21,2) normalised keypoints and `init_mask` (21,) bool: the initial pose
    (None: the perceptron's no-initial-pose token).
    """
    t = len(dense)
    c = perceptron.config.context
    out = np.zeros((t, perceptron.config.vision_dim), dtype=np.float32)
    init = mask = None
    if init_kp2d_norm is not None and init_mask is not None and np.asarray(init_mask).any():
        init = torch.as_tensor(np.nan_to_num(init_kp2d_norm), dtype=torch.float32, device=device)[None]
        mask = torch.as_tensor(init_mask, dtype=torch.bool, device=device)[None]
    for start in range(0, t, CHUNK):
        stop = min(t, start + CHUNK)
        lo, hi = max(0, start - c), min(t, stop + c)
        x = torch.as_tensor(np.asarray(dense[lo:hi], dtype=np.float32), device=device)[None]
        y = perceptron(x, init, mask)[0]
        out[start:stop] = y[start - lo : start - lo + (stop - start)].cpu().numpy()
    return out


def initial_pose_from_track(
    kp2d: np.ndarray, kp2d_mask: np.ndarray, width: int, height: int, mirror: bool
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The first frame with a detected keypoint -> (21,2) keypoints normalised as `Camera.normalise_2d`
    (mirrored for a left hand), (21,) mask; (None, None) if the hand is never seen."""
    seen = np.flatnonzero(np.asarray(kp2d_mask).any(axis=1))
    if not len(seen):
        return None, None
    from engine.hand.mirror import mirror_pixels
    from engine.motion.camera import Camera

    i = int(seen[0])
    uv = np.array(kp2d[i], dtype=np.float64)
    if mirror:  # the picture flipped left-right: about its centre column
        uv = mirror_pixels(uv, width / 2.0)
    norm = Camera.default(width, height).normalise_2d(uv)
    return np.nan_to_num(norm).astype(np.float32), np.asarray(kp2d_mask[i], dtype=bool)


def track_hand_tokens(
    perceptron: HandPerceptron, dense: np.ndarray | DenseTokens, cond, device="cpu"
) -> np.ndarray:
    """Hand tokens (T, V) for one hand's conditions (`engine.motion.types.Conditions`) from the
    dense tokens of its video (mirrored for a left hand), with that hand's initial pose."""
    w, h = (int(v) for v in cond.image_size)
    mirror = cond.handedness == "left"
    init, mask = initial_pose_from_track(cond.kp2d, cond.kp2d_mask, w, h, mirror)
    return hand_tokens(perceptron, dense, init, mask, device)


def video_hand_tokens(
    perceptron: HandPerceptron, video: str | os.PathLike[str], cond, device="cpu"
) -> np.ndarray:
    """Hand tokens for one hand of a video, all in one call (backbone, then perceptron); the
    dense tokens go through a temporary file that is deleted before returning."""
    path = temporary_tokens_path(Path(tempfile.gettempdir()) / "x")
    try:
        dense = dense_tokens_to_file(video, backbone_for(perceptron), path, mirror=cond.handedness == "left")
        if len(dense) != cond.num_frames:
            raise ValueError(f"{video}: {len(dense)} frames, the conditions have {cond.num_frames}")
        return track_hand_tokens(perceptron, dense, cond, device)
    finally:
        path.unlink(missing_ok=True)


def temporary_tokens_path(near: str | os.PathLike[str]) -> Path:
    """A fresh file name for dense tokens, in the output's folder (the system temp if that fails)."""
    folder = Path(near).resolve().parent
    try:
        fd, name = tempfile.mkstemp(prefix=".unihand-tokens-", suffix=".npy", dir=folder)
    except OSError:
        fd, name = tempfile.mkstemp(prefix="unihand-tokens-", suffix=".npy")
    os.close(fd)
    return Path(name)


__all__ = [
    "CHUNK",
    "DenseTokens",
    "backbone_for",
    "dense_tokens_to_file",
    "hand_tokens",
    "initial_pose_from_track",
    "temporary_tokens_path",
    "track_hand_tokens",
    "video_hand_tokens",
]

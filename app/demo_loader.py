"""The built-in demo, built off the GUI thread (torch never runs on the GUI thread).

The demo is a clip the project makes itself: the default hand performs the demo motion
(engine/hand/demo.py) in front of a virtual 640x480 camera; the mesh is rasterised over a
background into video frames; a card passes in front of the hand for a while, so the "detected"
2D keypoints (projections plus a little noise) drop out there. The session holds the motion and
those conditions, ready to drag, pin and regenerate.
"""

from __future__ import annotations

import functools

import numpy as np
from PySide6.QtCore import QThread, Signal

DEMO_VIDEO = "builtin:demo"
IMAGE_SIZE = (640, 480)
RENDER_SCALE = 0.5  # the frames are rendered at half size and shown stretched over 640x480
OCCLUDED = (108, 132)  # frames the card hides the hand in
SKIN = np.array([236, 189, 160], dtype=np.float64)


class DemoClip:
    """The demo: its session, rendered frames (T,h,w,3) uint8, per-frame mesh and faces."""

    def __init__(self, session, frames: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> None:
        self.session = session
        self.frames = frames
        self.vertices = vertices  # (T,V,3) float32, camera space
        self.faces = faces
        self.fps = session.tracks["right"].fps

    @property
    def num_frames(self) -> int:
        return int(self.vertices.shape[0])


def _background(w: int, h: int) -> np.ndarray:
    """A soft studio backdrop: vertical gradient, a table edge, a vignette."""
    y = np.linspace(0.0, 1.0, h)[:, None, None]
    x = np.linspace(-1.0, 1.0, w)[None, :, None]
    top, bottom = np.array([58, 66, 82.0]), np.array([112, 118, 126.0])
    img = top + (bottom - top) * y
    table = (y > 0.82).astype(float)
    img = img * (1 - table) + table * (np.array([92, 76, 62.0]) + 25 * (y - 0.82))
    img = img * (1.0 - 0.35 * (x**2 + (y - 0.45) ** 2))
    return np.broadcast_to(img, (h, w, 3)).copy()


def rasterise(
    image: np.ndarray,
    pixels: np.ndarray,
    depth: np.ndarray,
    faces: np.ndarray,
    shade: np.ndarray,
    color: np.ndarray,
) -> None:
    """Draw triangles into `image` (h,w,3 float) with a z-buffer, vectorised over faces.

    pixels (V,2) vertex positions in this image's pixels, depth (V,), shade (F,) per-face brightness.
    Faces are grouped by their pixel size so small ones test few candidate pixels."""
    h, w = image.shape[:2]
    tri = pixels[faces]  # (F,3,2)
    lo = np.floor(tri.min(axis=1)).astype(int)
    size = (np.ceil(tri.max(axis=1)).astype(int) - lo).max(axis=1)
    flats, zs, ids = [], [], []
    for small, big in ((0, 2), (2, 4), (4, 8), (8, 16), (16, 64)):
        sel = np.flatnonzero((size >= small) & (size < big) if small else size < big)
        if len(sel) == 0:
            continue
        offsets = np.stack(np.meshgrid(np.arange(big + 1), np.arange(big + 1), indexing="xy"), -1).reshape(
            -1, 2
        )
        cand = lo[sel, None, :] + offsets[None]  # (F,K,2) integer pixel candidates
        p = cand + 0.5
        t = tri[sel]
        a, b, c = t[:, 0][:, None], t[:, 1][:, None], t[:, 2][:, None]
        den = (b[..., 1] - c[..., 1]) * (a[..., 0] - c[..., 0]) + (c[..., 0] - b[..., 0]) * (
            a[..., 1] - c[..., 1]
        )
        den = np.where(np.abs(den) < 1e-12, 1e-12, den)
        l1 = (
            (b[..., 1] - c[..., 1]) * (p[..., 0] - c[..., 0])
            + (c[..., 0] - b[..., 0]) * (p[..., 1] - c[..., 1])
        ) / den
        l2 = (
            (c[..., 1] - a[..., 1]) * (p[..., 0] - c[..., 0])
            + (a[..., 0] - c[..., 0]) * (p[..., 1] - c[..., 1])
        ) / den
        l3 = 1.0 - l1 - l2
        inside = (l1 >= -0.02) & (l2 >= -0.02) & (l3 >= -0.02)
        inside &= (cand[..., 0] >= 0) & (cand[..., 0] < w) & (cand[..., 1] >= 0) & (cand[..., 1] < h)
        fz = depth[faces[sel]]
        z = l1 * fz[:, 0, None] + l2 * fz[:, 1, None] + l3 * fz[:, 2, None]
        ids.append(np.broadcast_to(sel[:, None], inside.shape)[inside])
        flats.append(cand[inside][:, 1] * w + cand[inside][:, 0])
        zs.append(z[inside])
    flat, z, face_idx = np.concatenate(flats), np.concatenate(zs), np.concatenate(ids)
    order = np.lexsort((z, flat))  # nearest first within each pixel
    flat, face_idx = flat[order], face_idx[order]
    first = np.ones(len(flat), dtype=bool)
    first[1:] = flat[1:] != flat[:-1]
    target = image.reshape(-1, 3)
    target[flat[first]] = color[None] * shade[face_idx[first], None]


def render_frame(
    vertices: np.ndarray, faces: np.ndarray, K: np.ndarray, background: np.ndarray, frame: int
) -> np.ndarray:
    """One demo video frame (h,w,3) uint8: the shaded hand over the backdrop, and the card."""
    img = background.copy()
    h, w = img.shape[:2]
    uvw = vertices @ K.T
    pixels = uvw[:, :2] / uvw[:, 2:3] * RENDER_SCALE
    tri = vertices[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    view = -tri.mean(axis=1)
    view /= np.linalg.norm(view, axis=1, keepdims=True)
    light = np.array([-0.3, -0.5, -0.8]) / np.linalg.norm([-0.3, -0.5, -0.8])
    shade = 0.35 + 0.5 * np.abs((normals * view).sum(1)) + 0.25 * np.clip(normals @ light, 0, 1)
    rasterise(img, pixels, vertices[:, 2], faces, np.clip(shade, 0, 1.15), SKIN)
    start, stop = OCCLUDED
    if start - 6 <= frame < stop + 6:  # the card slides in from the left, holds, slides out
        x = np.interp(frame, [start - 6, start, stop, stop + 6], [-0.45, 0.0, 0.0, 1.0])
        left = int((0.18 + x) * w)
        right = left + int(0.62 * w)
        img[int(0.08 * h) : int(0.9 * h), max(0, left) : max(0, min(w, right))] = (196, 202, 210)
    return np.clip(img, 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=2)
def build_demo_clip(hand_model: str = "default", num_frames: int = 180, fps: float = 30.0) -> DemoClip:
    """Build the demo (call from a worker thread): FK, rendering, detections, the session.

    Cached per process: the clip is immutable except for its session, which callers copy."""
    import torch

    from engine.editing.session import Session, Track
    from engine.hand import create_hand_model
    from engine.hand.demo import demo_pose_track
    from engine.motion.camera import Camera
    from engine.motion.types import Conditions, HandMotion

    model = create_hand_model(hand_model)
    pose, orient, transl = demo_pose_track(model.data, num_frames)
    with torch.inference_mode():
        out = model(pose, orient, None, transl)
    vertices = out.vertices.numpy()
    keypoints = out.keypoints.numpy().astype(np.float64)
    camera = Camera.default(*IMAGE_SIZE)
    rng = np.random.default_rng(7)
    kp2d = camera.project(keypoints) + rng.normal(0.0, 0.8, (num_frames, 21, 2))
    confidence = np.clip(0.97 - np.abs(rng.normal(0.0, 0.05, (num_frames, 21))), 0.0, 1.0)
    mask = np.ones((num_frames, 21), dtype=bool)
    start, stop = OCCLUDED
    mask[start:stop] = False
    confidence[start:stop] = 0.0
    for edge in range(1, 6):  # the detector gets unsure as the card arrives and leaves
        confidence[start - edge] *= 0.2 + 0.16 * edge
        confidence[stop - 1 + edge] *= 0.2 + 0.16 * edge
    conditions = Conditions(
        fps=fps, num_frames=num_frames, kp2d=kp2d, kp2d_mask=mask, image_size=np.array(IMAGE_SIZE)
    )
    motion = HandMotion(
        fps=fps,
        handedness="right",
        hand_model=hand_model,
        global_orient=orient,
        hand_pose=pose,
        transl=transl,
        betas=np.zeros(10),
        joints=keypoints,
    )
    session = Session({"right": Track.from_motion(motion, conditions, confidence)}, video=DEMO_VIDEO)
    background = _background(int(IMAGE_SIZE[0] * RENDER_SCALE), int(IMAGE_SIZE[1] * RENDER_SCALE))
    frames = np.stack(
        [
            render_frame(vertices[i].astype(np.float64), model.faces, camera.K, background, i)
            for i in range(num_frames)
        ]
    )
    return DemoClip(session, frames, vertices.astype(np.float32), np.asarray(model.faces))


def fresh_demo_session(clip: DemoClip):
    """A new, unedited copy of the demo's session (the cached clip's session is never edited)."""
    from engine.editing.session import Session, Track

    tracks = {}
    for hand, t in clip.session.tracks.items():
        tracks[hand] = Track(
            t.handedness,
            t.fps,
            t.hand_model,
            t.betas,
            {k: v.copy() for k, v in t.arrays.items()},
            t.image_size,
            t.K,
        )
    return Session(tracks, video=DEMO_VIDEO)


class DemoLoader(QThread):
    """Builds the demo clip in the background; emits `loaded(DemoClip)` or `failed(str)`."""

    loaded = Signal(object)
    failed = Signal(str)

    def __init__(self, hand_model: str = "default", parent: object = None) -> None:
        super().__init__(parent)
        self.hand_model = hand_model

    def run(self) -> None:
        try:
            self.loaded.emit(build_demo_clip(self.hand_model))
        except Exception as exc:  # reported to the user, never a dead window
            self.failed.emit(f"{type(exc).__name__}: {exc}")

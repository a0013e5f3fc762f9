"""Virtual cameras that film a hand motion given in an arbitrary world frame.

Used for synthetic motion and for real captures (GRAB, ARCTIC), whose world frames have unknown
or different up axes, so nothing here assumes one: the viewing direction is drawn relative to the
hand itself (mostly from the back or the side of the hand, as real cameras and head-mounted
cameras see hands; sometimes the palm), and image "up" is drawn relative to the fingers' direction.

Cameras follow OpenCV (x right, y down, z forward); `cam_to_world` holds one rigid (4,4) transform
per frame, the layout `engine.motion.camera.canonical_extrinsics` takes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from engine.motion.camera import Camera

IMAGE_SIZES: tuple[tuple[int, int], ...] = ((640, 480), (1280, 720), (1920, 1080), (720, 1280), (1080, 1920))
HFOV_DEG = (50.0, 100.0)
DISTANCE_M = (0.25, 0.9)
MIN_DEPTH_M = 0.1
_INSIDE_TARGET = 0.99  # share of keypoints inside the image a track is pushed back to reach

# MP21 indices used to find the hand's own axes.
_WRIST, _INDEX_MCP, _MIDDLE_MCP, _PINKY_MCP = 0, 5, 9, 17


@dataclass
class CameraTrack:
    """Intrinsics and per-frame camera-to-world transforms (T,4,4), OpenCV axes."""

    camera: Camera
    cam_to_world: np.ndarray  # (T,4,4)
    moving: bool = False

    @property
    def num_frames(self) -> int:
        return int(self.cam_to_world.shape[0])

    def world_to_camera(self, points: np.ndarray) -> np.ndarray:
        """(T, ..., 3) world points -> each frame's camera space."""
        rot, transl = self.cam_to_world[:, :3, :3], self.cam_to_world[:, :3, 3]
        flat = points.reshape(points.shape[0], -1, 3)
        # Rows: R^T (p - t) is (p - t) @ R.
        return ((flat - transl[:, None]) @ rot).reshape(points.shape)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(T, ..., 3) world points -> (T, ..., 2) pixels."""
        return self.camera.project(self.world_to_camera(points))

    def inside_fraction(self, points: np.ndarray) -> float:
        """Share of world points in front of the camera and inside the image."""
        cam = self.world_to_camera(points)
        uv = self.camera.project(cam)
        ok = (
            (cam[..., 2] > MIN_DEPTH_M)
            & (uv[..., 0] >= 0)
            & (uv[..., 0] <= self.camera.width)
            & (uv[..., 1] >= 0)
            & (uv[..., 1] <= self.camera.height)
        )
        return float(ok.mean())


def sample_intrinsics(rng: np.random.Generator) -> Camera:
    """A camera of a common image size, horizontal FOV 50-100 degrees, principal point near the centre."""
    width, height = IMAGE_SIZES[int(rng.integers(0, len(IMAGE_SIZES)))]
    hfov = np.radians(rng.uniform(*HFOV_DEG))
    focal = width / 2.0 / np.tan(hfov / 2.0)
    aspect = 1.0 + rng.normal(0.0, 0.003)  # nearly square pixels
    cx = width / 2.0 + rng.normal(0.0, 0.01 * width)
    cy = height / 2.0 + rng.normal(0.0, 0.01 * height)
    k = np.array([[focal, 0.0, cx], [0.0, focal * aspect, cy], [0.0, 0.0, 1.0]])
    return Camera(k, width, height)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)


def hand_axes(points: np.ndarray, handedness: str = "right") -> tuple[np.ndarray, np.ndarray]:
    """Mean back-of-hand normal and wrist-to-middle-knuckle direction of (T,21,3) keypoints."""
    wrist = points[:, _WRIST]
    across = np.cross(points[:, _INDEX_MCP] - wrist, points[:, _PINKY_MCP] - wrist)  # out of the palm (right)
    palm = _unit(across.mean(axis=0))
    if handedness == "left":
        palm = -palm
    forward = _unit((points[:, _MIDDLE_MCP] - wrist).mean(axis=0))
    return -palm, forward


def _sample_view_direction(rng: np.random.Generator, back: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Unit vector from the hand towards the camera: mostly back or side of the hand, sometimes palm."""
    side = _unit(np.cross(back, forward))
    u = rng.random()
    if u < 0.6:  # back of the hand, like most third-person and egocentric views
        polar = np.radians(rng.uniform(0.0, 65.0))
    elif u < 0.85:  # side views
        polar = np.radians(rng.uniform(65.0, 115.0))
    else:  # palm towards the camera
        polar = np.radians(rng.uniform(115.0, 170.0))
    azimuth = rng.uniform(-np.pi, np.pi)
    # Egocentric cameras sit behind the wrist more often than in front of the fingertips.
    tilt = -forward * 0.35 if rng.random() < 0.5 else 0.0
    ring = np.cos(azimuth) * forward + np.sin(azimuth) * side
    return _unit(np.cos(polar) * back + np.sin(polar) * ring + tilt)


def look_at(position: np.ndarray, target: np.ndarray, up_hint: np.ndarray) -> np.ndarray:
    """(...,4,4) OpenCV camera-to-world at `position` looking at `target`; image up along `up_hint`."""
    z = _unit(target - position)
    up = up_hint - np.sum(up_hint * z, axis=-1, keepdims=True) * z
    # A hint parallel to the view axis gives no roll information: fall back to any perpendicular.
    degenerate = np.linalg.norm(up, axis=-1, keepdims=True) < 1e-6
    alt = np.cross(z, np.array([1.0, 0.0, 0.0]))
    alt = np.where(np.linalg.norm(alt, axis=-1, keepdims=True) < 1e-6, np.cross(z, [0.0, 1.0, 0.0]), alt)
    up = _unit(np.where(degenerate, alt, up))
    y = -up  # image y points down
    x = np.cross(y, z)
    out = np.zeros((*z.shape[:-1], 4, 4))
    out[..., :3, 0], out[..., :3, 1], out[..., :3, 2], out[..., :3, 3] = x, y, z, position
    out[..., 3, 3] = 1.0
    return out


def _smooth_walk(rng: np.random.Generator, num_frames: int, fps: float, scale: float) -> np.ndarray:
    """(T,3) smooth head-like drift of about `scale` (unit-agnostic), starting at zero."""
    sigma = fps * rng.uniform(0.3, 0.8)
    pad = int(3 * sigma) + 1
    raw = rng.standard_normal((num_frames + 2 * pad, 3))
    walk = gaussian_filter1d(np.cumsum(raw, axis=0), sigma, axis=0)[pad : pad + num_frames]
    walk = walk - walk[0]
    norm = np.abs(walk).max() + 1e-9
    # Scale by the duration so slow drifts stay slow whatever the length.
    return walk / norm * scale * min(1.0, num_frames / (3.0 * fps))


def sample_camera_track(
    rng: np.random.Generator,
    world_points: np.ndarray,
    fps: float,
    moving: bool | None = None,
    handedness: str = "right",
) -> CameraTrack:
    """A camera filming (T,21,3) world keypoints: static or moving, hand in front and in view.

    The view direction comes from the hand's own axes (see module doc), the distance from 0.25-0.9 m,
    pushed further back when the hand's motion would leave the image. A moving camera drifts like
    a head (a few centimetres, a few degrees) and partly follows the hand.
    """
    points = np.asarray(world_points, dtype=np.float64)
    if points.ndim != 3 or points.shape[1:] != (21, 3):
        raise ValueError(f"world_points must have shape (T, 21, 3), got {points.shape}")
    num_frames = points.shape[0]
    if moving is None:
        moving = bool(rng.random() < 0.5)
    camera = sample_intrinsics(rng)
    back, forward = hand_axes(points, handedness)
    direction = _sample_view_direction(rng, back, forward)
    # Nearer distances are more common in hand footage (the hand fills more of the frame).
    distance = DISTANCE_M[0] + (DISTANCE_M[1] - DISTANCE_M[0]) * rng.random() ** 1.5
    centroid = points.mean(axis=1)  # (T,3)
    centre = centroid.mean(axis=0)
    # Image up near the fingers' direction, with a random roll (hands appear in every orientation).
    roll = rng.uniform(-np.pi, np.pi) if rng.random() < 0.3 else rng.normal(0.0, 0.6)
    side = _unit(np.cross(direction, forward))
    up_hint = np.cos(roll) * forward + np.sin(roll) * side
    if moving:
        # Drifts are drawn in the hand's axes, so a rotated world gives the same views.
        axes = np.stack([back, forward, _unit(np.cross(back, forward))], axis=1)
        follow = rng.uniform(0.2, 0.7)  # how much the head turns to keep the hand centred
        target = centre + follow * (centroid - centre) + _smooth_walk(rng, num_frames, fps, 0.03) @ axes.T
        pos_drift = _smooth_walk(rng, num_frames, fps, rng.uniform(0.03, 0.12)) @ axes.T
        roll_drift = _smooth_walk(rng, num_frames, fps, rng.uniform(0.02, 0.1))[:, :1]
    else:
        target = np.broadcast_to(centre, (num_frames, 3))
        pos_drift = np.zeros((num_frames, 3))
        roll_drift = np.zeros((num_frames, 1))
    up_t = _unit(up_hint + roll_drift * side)
    track = None
    for _ in range(40):
        position = centre + direction * distance + pos_drift
        cam_to_world = look_at(position, target, up_t)
        track = CameraTrack(camera, cam_to_world, moving)
        depth = track.world_to_camera(points)[..., 2]
        if track.inside_fraction(points) >= _INSIDE_TARGET and depth.min() > MIN_DEPTH_M:
            break
        distance *= 1.12
    assert track is not None
    return track

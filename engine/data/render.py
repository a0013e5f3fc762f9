"""Training pictures for the vision path: the default hand rendered into varied scenes.

The hand perceptron learns from images whose true pose is known. These come from motion windows
(camera-space MANO of the corpus) drawn with the project's own software renderer: Lambert-shaded
triangles in painter's order (far to near) with PIL, over procedural backgrounds, with random skin
tones, light directions, moving occluders, motion blur and sensor noise. The camera is the
window's own (its virtual camera may move), re-framed so the hand fills a sampled share of a small
landscape picture. Nothing here imports Qt or OpenGL: it runs in data-building worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from engine.motion.camera import Camera

# Skin albedos (sRGB 0-1), light to dark; a sample is blended between two neighbours.
SKIN_TONES = np.array(
    [
        (0.96, 0.80, 0.69),
        (0.92, 0.72, 0.58),
        (0.85, 0.64, 0.50),
        (0.76, 0.55, 0.40),
        (0.62, 0.43, 0.30),
        (0.48, 0.32, 0.22),
        (0.34, 0.22, 0.15),
    ]
)


@dataclass(frozen=True)
class RenderStyle:
    """Everything random about one rendered window (constant over its frames, or a smooth path)."""

    skin: np.ndarray  # (3,) albedo 0-1
    light: np.ndarray  # (3,) unit direction towards the light, camera space
    ambient: float
    background: np.ndarray  # (H + 2m, W + 2m, 3) uint8: panned by `pan` frame by frame
    pan: np.ndarray  # (T, 2) integer offsets into `background`
    occluder: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # centres (T,2), radii (2,), colour (3,)
    blur: float  # weight of the previous frame (0: no motion blur)
    noise: float  # sensor noise, grey levels (std)


def _value_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Smooth random field (H, W) in 0-1: a coarse grid upsampled bicubically."""
    grid = rng.random((cells, max(2, cells * width // height)))
    img = Image.fromarray((grid * 255).astype(np.uint8)).resize((width, height), Image.BICUBIC)
    return np.asarray(img, dtype=np.float32) / 255.0


def sample_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A cluttered procedural scene (H, W, 3) uint8: coloured noise, a gradient, shapes, stripes."""
    palette = rng.random((3, 3))
    a, b = (
        _value_noise(rng, height, width, int(rng.integers(2, 6))),
        _value_noise(rng, height, width, int(rng.integers(6, 20))),
    )
    img = palette[0] * (1 - a[..., None]) + palette[1] * a[..., None]
    img = img * (0.7 + 0.3 * b[..., None])
    ramp = np.linspace(0, 1, height if rng.random() < 0.5 else width, dtype=np.float32)
    ramp = ramp[:, None] if len(ramp) == height else ramp[None, :]
    img = img * (0.75 + 0.5 * ramp[..., None] * rng.uniform(-0.5, 0.5))
    pic = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(pic)
    for _ in range(int(rng.integers(3, 12))):
        x0, y0 = rng.uniform(-0.1, 1.0) * width, rng.uniform(-0.1, 1.0) * height
        w, h = rng.uniform(0.05, 0.5) * width, rng.uniform(0.05, 0.5) * height
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = rng.integers(0, 3)
        if shape == 0:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
        elif shape == 1:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
        else:
            draw.line([x0, y0, x0 + w, y0 + h], fill=colour, width=int(rng.integers(2, 12)))
    return np.asarray(pic.filter(ImageFilter.GaussianBlur(rng.uniform(0, 1.5))))


def sample_style(rng: np.random.Generator, width: int, height: int, num_frames: int) -> RenderStyle:
    i = int(rng.integers(0, len(SKIN_TONES) - 1))
    skin = SKIN_TONES[i] + rng.random() * (SKIN_TONES[i + 1] - SKIN_TONES[i])
    skin = np.clip(skin * rng.uniform(0.9, 1.1, 3), 0, 1)
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), -rng.uniform(0.3, 1.5)])
    margin = max(width, height) // 4
    background = sample_background(rng, height + 2 * margin, width + 2 * margin)
    # A panning camera moves the scene: a smooth random walk of the background's crop.
    steps = np.cumsum(rng.normal(0, 1, (num_frames, 2)), axis=0) * rng.uniform(0, 1.5)
    start = rng.uniform(0.2, 0.8, 2) * 2 * margin
    pan = np.clip(np.round(start + steps), 0, 2 * margin).astype(int)
    occluder = None
    if rng.random() < 0.35:
        a, b = rng.uniform(0, 1, 2) * (width, height), rng.uniform(0, 1, 2) * (width, height)
        centres = a + (b - a) * np.linspace(0, 1, num_frames)[:, None]
        radii = rng.uniform(0.05, 0.18, 2) * max(width, height)
        occluder = (centres, radii, rng.integers(0, 256, 3).astype(float))
    blur = float(rng.uniform(0.2, 0.5)) if rng.random() < 0.3 else 0.0
    return RenderStyle(
        skin=skin,
        light=light / np.linalg.norm(light),
        ambient=float(rng.uniform(0.25, 0.5)),
        background=background,
        pan=pan,
        occluder=occluder,
        blur=blur,
        noise=float(rng.uniform(0, 6)),
    )


def draw_hand(
    image: Image.Image, vertices: np.ndarray, faces: np.ndarray, camera: Camera, style: RenderStyle
) -> None:
    """Draw one frame's mesh (V,3 camera space) into `image` in place."""
    tri = vertices[faces]
    if (tri[..., 2] <= 1e-3).any():
        return  # behind or at the camera: nothing sensible to draw
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    to_eye = -tri.mean(axis=1)
    to_eye /= np.linalg.norm(to_eye, axis=1, keepdims=True)
    # Faces seen from behind (inside of the mesh) take their flipped normal, as a two-sided material.
    normals *= np.sign((normals * to_eye).sum(axis=1, keepdims=True) + 1e-12)
    diffuse = np.clip(normals @ style.light, 0, 1)
    shade = style.ambient + (1 - style.ambient) * diffuse
    colours = np.clip(style.skin[None] * shade[:, None] * 255, 0, 255).astype(np.uint8)
    uv = camera.project(tri)
    draw = ImageDraw.Draw(image)
    for f in np.argsort(-tri[:, :, 2].mean(axis=1)):
        draw.polygon([tuple(p) for p in uv[f]], fill=tuple(int(c) for c in colours[f]))


def render_window(
    vertices: np.ndarray,
    faces: np.ndarray,
    camera: Camera,
    style: RenderStyle,
    rng: np.random.Generator,
) -> np.ndarray:
    """(T,V,3) camera-space vertices -> (T, H, W, 3) uint8 frames of the camera's size."""
    width, height = camera.image_size
    frames = np.empty((len(vertices), height, width, 3), dtype=np.uint8)
    previous: np.ndarray | None = None
    for t, verts in enumerate(vertices):
        x, y = style.pan[t]
        image = Image.fromarray(style.background[y : y + height, x : x + width])
        draw_hand(image, verts, faces, camera, style)
        if style.occluder is not None:
            centres, radii, colour = style.occluder
            cx, cy = centres[t]
            ImageDraw.Draw(image).ellipse(
                [cx - radii[0], cy - radii[1], cx + radii[0], cy + radii[1]],
                fill=tuple(int(c) for c in colour),
            )
        frame = np.asarray(image, dtype=np.float32)
        if previous is not None and style.blur > 0:
            frame = (1 - style.blur) * frame + style.blur * previous
        previous = frame
        if style.noise > 0:
            frame = frame + rng.normal(0, style.noise, frame.shape)
        frames[t] = np.clip(frame, 0, 255).astype(np.uint8)
    return frames


def frame_camera(
    kp3d_cam: np.ndarray,
    focal_norm: float,
    size: tuple[int, int],
    rng: np.random.Generator,
    fill: tuple[float, float] = (0.15, 0.45),
) -> Camera:
    """The camera for rendering a window at `size` (W, H), principal point at the centre.

    Starts from the window's own focal length (`Camera.normalised_focal`) and
    zooms so the hand spans a sampled share `fill` of the picture's longer side, as far as the
    hand stays inside the picture (95% of its keypoints over the window): the hand's direction from
    the camera is kept, so the rays, and the scene's geometry, are the window's.
    """
    width, height = size
    ray = kp3d_cam[..., :2] / np.maximum(kp3d_cam[..., 2:3], 1e-6)  # (T,21,2) tangent-plane coordinates
    extent = np.median((ray.max(axis=1) - ray.min(axis=1)).max(axis=-1))
    half = max(width, height) / 2.0
    target = rng.uniform(*fill) * 2.0  # share of the longer side, in normalised units (side = 2)
    zoom_wanted = target / max(extent * focal_norm, 1e-6)
    limits = np.array([width, height]) / (2.0 * half) * 0.97  # the picture's half-extents, normalised
    reach = np.quantile(np.abs(ray).reshape(-1, 2), 0.95, axis=0) * focal_norm
    zoom_max = float(np.min(limits / np.maximum(reach, 1e-6)))
    f_norm = focal_norm * max(min(zoom_wanted, zoom_max), 0.25)
    f = f_norm * half
    return Camera(np.array([[f, 0.0, width / 2.0], [0.0, f, height / 2.0], [0.0, 0.0, 1.0]]), width, height)

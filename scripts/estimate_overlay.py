"""Look at `estimate` on a real video: the mesh drawn over frames, and its jitter and lag against
the raw per-frame detections (issue 7's must-show; numbers in docs/video.md).

    python scripts/estimate_overlay.py [VIDEO] [--hand right] [--frames 6]
        [--strip docs/images/estimate_overlay_strip.png] [--json docs/results/estimate_real_clip.json]
        [--video-out outputs/estimate_overlay.mp4]

- jitter: mean |second difference| (px/frame^2) of the 21 keypoints over frame triples the detector
  saw, for the estimate projected into the image and for the raw detections;
- lag: the frame shift of the estimate that best matches the detections (0 = no lag);
- reprojection: median distance (px) between projected joints and detected keypoints.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
DEFAULT_VIDEO = REPO.parent / "shared" / "data" / "video" / "open_palm_1280x720_30fps.mp4"
SKIN = np.array([225.0, 172.0, 140.0])


def best_lag(uv: np.ndarray, detected: np.ndarray, valid: np.ndarray, max_shift: int = 5) -> dict[int, float]:
    """Mean distance between the estimate shifted by s frames and the detections, for each s."""
    out = {}
    t = len(uv)
    for s in range(-max_shift, max_shift + 1):
        a, b = max(0, -s), min(t, t - s)  # estimate frame i + s against detection frame i
        d = np.linalg.norm(uv[a + s : b + s] - detected[a:b], axis=-1)
        out[s] = float(d[valid[a:b]].mean())
    return out


def draw_mesh(image: Image.Image, uv: np.ndarray, cam_points: np.ndarray, faces: np.ndarray) -> Image.Image:
    """Lambert-shaded triangles, far to near (painter's order), at 60% over the frame."""
    tri = cam_points[faces]
    normals = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    view = -tri.mean(axis=1)
    view /= np.linalg.norm(view, axis=1, keepdims=True)
    shade = 0.35 + 0.65 * np.abs((normals * view).sum(axis=1))
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    for f in np.argsort(-tri[:, :, 2].mean(axis=1)):
        colour = (*(int(c) for c in SKIN * shade[f]), 255)
        draw.polygon([tuple(p) for p in uv[faces[f]]], fill=colour)
    alpha = layer.getchannel("A").point(lambda a: int(a * 0.6))
    layer.putalpha(alpha)
    return Image.alpha_composite(image.convert("RGBA"), layer)


def draw_points(image: Image.Image, uv: np.ndarray, mask: np.ndarray, colour: tuple, radius: float) -> None:
    draw = ImageDraw.Draw(image)
    for (x, y), ok in zip(uv, mask, strict=True):
        if ok:
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], outline=colour, width=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("video", nargs="?", default=str(DEFAULT_VIDEO))
    parser.add_argument("--hand", default="right", choices=("auto", "right", "left"))
    parser.add_argument("--frames", type=int, default=6)
    parser.add_argument("--tile", type=int, default=300, help="pixels per strip tile")
    parser.add_argument("--strip", default=str(REPO / "docs" / "images" / "estimate_overlay_strip.png"))
    parser.add_argument("--json", default=str(REPO / "docs" / "results" / "estimate_real_clip.json"))
    parser.add_argument("--video-out", default=None, help="also write the whole overlay as a video")
    parser.add_argument(
        "--vision", default="on", choices=("on", "off"), help="as `main.py estimate --vision`"
    )
    parser.add_argument("--no-strip", action="store_true", help="numbers only")
    args = parser.parse_args(argv)

    import tempfile

    import torch

    from engine.eval.metrics import jitter
    from engine.files import write_text_atomic
    from engine.hand import create_hand_model
    from engine.hand.skeleton import MP21_PARENTS
    from engine.video.decode import VideoReader
    from engine.video.estimate import estimate_video, reprojection_error_px

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        # The CLI's own path (detection and backbone on two threads, perceptron, diffusion, refinement).
        result = estimate_video(args.video, Path(tmp) / "m.npz", hand=args.hand, vision=args.vision == "on")[
            0
        ]
    t1 = time.perf_counter()
    motion, track = result.motion, result.track  # the estimate, and the raw detections to compare with
    cond = track.conditions
    hand = create_hand_model(motion.hand_model, motion.handedness)
    with torch.inference_mode():
        verts = hand(motion.hand_pose, motion.global_orient, motion.betas, motion.transl).vertices.numpy()
    cam = cond.camera()
    uv_joints = np.asarray(cam.project(motion.joints))
    uv_verts = np.asarray(cam.project(verts))
    detected = np.nan_to_num(cond.kp2d)
    valid = cond.kp2d_mask
    lags = best_lag(uv_joints, detected, valid)
    report = {
        "video": Path(args.video).name,
        "frames": cond.num_frames,
        "fps": cond.fps,
        "hand": track.handedness,
        "detected_frames": int(track.detected.sum()),
        "reprojection_px_median": reprojection_error_px(motion, cond),
        "jitter_px_per_frame2": {
            "estimate": jitter(uv_joints, valid, scale=1.0),
            "detections": jitter(detected, valid, scale=1.0),
        },
        "lag_frames": min(lags, key=lags.get),
        "distance_px_by_shift": {str(k): round(v, 3) for k, v in lags.items()},
        "vision": args.vision,
        "seconds_estimate": round(t1 - t0, 1),
        "note": "jitter of the projected estimate vs the raw MediaPipe keypoints over frame triples the "
        "detector saw; lag = the shift of the estimate that best matches the detections",
    }
    report["jitter_ratio"] = (
        report["jitter_px_per_frame2"]["estimate"] / report["jitter_px_per_frame2"]["detections"]
    )
    write_text_atomic(args.json, json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    if args.no_strip:
        return 0

    faces = hand.data.faces
    seen = np.flatnonzero(track.detected)
    picks = seen[np.linspace(0, len(seen) - 1, args.frames).round().astype(int)]
    tiles = []
    reader = VideoReader(args.video)
    for i in picks:
        frame = Image.fromarray(reader.read(int(i)).image)
        img = draw_mesh(frame, uv_verts[i], verts[i], faces)
        draw_points(img, detected[i], valid[i], (40, 220, 60, 255), 5)
        draw = ImageDraw.Draw(img)
        for j, p in enumerate(MP21_PARENTS):
            if p >= 0:
                draw.line([tuple(uv_joints[i, j]), tuple(uv_joints[i, p])], fill=(30, 60, 200, 255), width=3)
        box = uv_verts[i]
        centre = (box.min(0) + box.max(0)) / 2
        half = 0.65 * (box.max(0) - box.min(0)).max()
        crop = img.crop(tuple(int(v) for v in (*(centre - half), *(centre + half))))
        tile = crop.convert("RGB").resize((args.tile, args.tile))
        ImageDraw.Draw(tile).text((6, 4), f"frame {i}", fill=(255, 255, 255))
        tiles.append(tile)
    strip = Image.new("RGB", (args.tile * len(tiles), args.tile))
    for k, tile in enumerate(tiles):
        strip.paste(tile, (k * args.tile, 0))
    Path(args.strip).parent.mkdir(parents=True, exist_ok=True)
    strip.save(args.strip)
    print(f"wrote {args.strip}")

    if args.video_out:
        from engine.video.encode import write_video

        def overlay_frames():
            for vf in reader.frames():
                img = draw_mesh(Image.fromarray(vf.image), uv_verts[vf.index], verts[vf.index], faces)
                draw_points(img, detected[vf.index], valid[vf.index], (40, 220, 60, 255), 5)
                yield np.asarray(img.convert("RGB"))

        write_video(args.video_out, overlay_frames(), fps=cond.fps)
        print(f"wrote {args.video_out}")
    reader.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

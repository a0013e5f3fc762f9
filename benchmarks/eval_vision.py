"""The vision path's ablations on held-out renders (paper Table 4, the rows that apply here).

    python benchmarks/eval_vision.py --model 3d=runs/vision_3d/vision.safetensors \\
        --model 1d=runs/vision_1d/vision.safetensors ... --json docs/results/vision_ablation.json

Held-out renders: `outputs/renders/val` (`main.py data renders`), windows drawn from the corpus's
validation split, which no training stage saw. Each window is estimated the way `main.py
estimate` does it (the infiller, refinement included) from:
- "2d": the 2D keypoints alone (exact projections + Gaussian pixel noise, joints inside the picture);
- "2d+vision": the same plus the perceptron's hand tokens (initial pose: the first frame's keypoints);
- "vision": the hand tokens alone;
- "none": nothing at all (the model's prior: what "vision" must beat to show the tokens help).
`--model shipped` stands for the editor's model (no vision training). Errors are against the
window's camera-space 3D keypoints: PA-MPJPE (per frame, after similarity alignment), root-relative
MPJPE (wrist at the origin) and MPJPE.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _errors(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    from engine.eval import metrics

    rel = (pred - pred[:, :1]) - (gt - gt[:, :1])
    return {
        "pa_mpjpe": metrics.pa_mpjpe(pred, gt),
        "rr_mpjpe": float(np.linalg.norm(rel, axis=-1).mean() * 1000.0),
        "mpjpe": metrics.mpjpe(pred, gt),
    }


def evaluate(name: str, path: str, windows: list[dict], steps: int, noise_px: float, seed: int) -> dict:
    import torch

    from engine.editing.infill import DEFAULT_DENOISER, DEFAULT_VAE, DiffusionInfiller
    from engine.editing.request import InfillRequest
    from engine.model.checkpoint import load_checkpoint
    from engine.model.perceptron import load_vision
    from engine.model.unihand import UniHand
    from engine.motion.types import Conditions
    from engine.video.vision import hand_tokens, initial_pose_from_track

    model = UniHand.load(DEFAULT_VAE, DEFAULT_DENOISER)
    perceptron = None if path == "shipped" else load_vision(path, model)
    infiller = DiffusionInfiller(model, perceptron=perceptron)
    # A run trained without vision tokens (the ablation) is measured on the 2D keypoints only.
    with_tokens = perceptron is not None and load_checkpoint(path, "vision")[2].get("vision_tokens", True)
    settings = ["2d", "2d+vision", "vision", "none"] if with_tokens else ["2d"]
    rows: dict[str, list[dict[str, float]]] = {s: [] for s in settings}
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    for i, win in enumerate(windows):
        gt = win["kp3d_cam"].astype(np.float64)
        K = win["K"].astype(np.float64)
        w, h = (int(v) for v in win["image_size"])
        uv = (gt @ K.T)[..., :2] / gt[..., 2:3] + rng.normal(0.0, noise_px, (*gt.shape[:-1], 2))
        inside = (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
        tokens = None
        if perceptron is not None:
            init, init_mask = initial_pose_from_track(uv, inside, w, h, mirror=False)
            with torch.no_grad():
                tokens = hand_tokens(perceptron, win["tokens"], init, init_mask)
        for setting in settings:
            with_2d = setting.startswith("2d")
            cond = Conditions(
                fps=30.0,
                num_frames=len(gt),
                kp2d=uv if with_2d else None,
                kp2d_mask=inside if with_2d else None,
                image_size=np.array([w, h]) if with_2d else None,
                K=K if with_2d else None,
            )
            vision = tokens if "vision" in setting else None
            pred = infiller(InfillRequest(cond, steps=steps, seed=seed + i, vision=vision)).motion.joints
            rows[setting].append(_errors(pred, gt))
    out = {s: {k: float(np.mean([r[k] for r in v])) for k in v[0]} for s, v in rows.items()}
    out["checkpoint"] = path
    out["seconds"] = round(time.perf_counter() - started, 1)
    print(name, json.dumps(out), flush=True)
    return out


def real_clip(video: str, steps: int, seed: int) -> dict:
    """What the tokens do on a real video (no 3D truth): the estimate from the picture alone and
    from nothing, each against the full estimate (2D + vision), after per-frame alignment."""
    from engine.editing.infill import load_infiller
    from engine.editing.request import InfillRequest
    from engine.eval import metrics
    from engine.motion.types import Conditions
    from engine.video.conditions import detect_conditions
    from engine.video.vision import video_hand_tokens

    infiller = load_infiller("cpu", vision=True)
    cond = detect_conditions(video, hand="right")[0].conditions
    tokens = video_hand_tokens(infiller.perceptron, video, cond)
    t = cond.num_frames

    def run(c: Conditions, vision: np.ndarray | None) -> np.ndarray:
        return infiller(InfillRequest(c, steps=steps, seed=seed, vision=vision)).motion.joints

    full = run(cond, tokens)
    keypoints_only = load_infiller("cpu")(InfillRequest(cond, steps=steps, seed=seed)).motion.joints
    bare = Conditions(fps=cond.fps, num_frames=t)
    out = {
        "video": Path(video).name,
        "frames": t,
        "pa_mpjpe_vs_full_estimate": {
            "keypoints_only_editor_model": metrics.pa_mpjpe(keypoints_only, full),
            "vision_only": metrics.pa_mpjpe(run(bare, tokens), full),
            "nothing": metrics.pa_mpjpe(run(bare, None), full),
        },
    }
    print("real clip", json.dumps(out), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--renders", default="outputs/renders/val")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=PATH|shipped")
    parser.add_argument("--windows", type=int, default=40)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--noise-px", type=float, default=0.5, help="2D noise in render pixels (256 wide)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", metavar="OUT")
    parser.add_argument("--real-clip", metavar="VIDEO", help="also: what the tokens do on a real video")
    args = parser.parse_args(argv)

    import torch

    from engine.data.shards import ShardReader

    torch.set_num_threads(args.threads)
    reader = ShardReader(args.renders)
    windows = []
    for i in range(min(args.windows, len(reader))):
        win = reader[i]
        if win["frame_valid"].all():
            windows.append(win)
    report: dict = {
        "renders": args.renders,
        "windows": len(windows),
        "steps": args.steps,
        "noise_px": args.noise_px,
    }
    for spec in args.model:
        name, _, path = spec.partition("=")
        report[name] = evaluate(name, path or name, windows, args.steps, args.noise_px, args.seed)
    if args.real_clip:
        report["real_clip"] = real_clip(args.real_clip, args.steps, args.seed)
    if args.json:
        from engine.files import write_text_atomic

        write_text_atomic(args.json, json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`main.py bench`: engine benchmarks, reported as medians (and p90) over repeats, warm."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable

import numpy as np
import torch


def time_call(fn: Callable[[], object], repeats: int, warmup: int = 2) -> np.ndarray:
    """Wall-clock milliseconds of `repeats` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    out = np.empty(repeats)
    for i in range(repeats):
        start = time.perf_counter()
        fn()
        out[i] = (time.perf_counter() - start) * 1000.0
    return out


def bench_forward_kinematics(
    model_name: str = "default", frames: int = 1000, repeats: int = 20, against_smplx: bool = False
) -> dict:
    """FK of `frames` random poses: vertices + 21 keypoints, float32, no autograd.

    With `against_smplx`, smplx's MANO layer runs the same batch on the same model data, and the
    ratio of medians (smplx / ours) is reported.
    """
    from engine.hand import create_hand_model

    model = create_hand_model(model_name)
    gen = torch.Generator().manual_seed(0)
    pose = 0.4 * torch.randn(frames, 45, generator=gen)
    orient = torch.randn(frames, 3, generator=gen)
    transl = 0.1 * torch.randn(frames, 3, generator=gen)

    def run() -> None:
        with torch.inference_mode():
            model(pose, orient, None, transl)

    ms = time_call(run, repeats)
    results: dict[str, object] = {
        f"fk_{frames}_ms_p50": float(np.median(ms)),
        f"fk_{frames}_ms_p90": float(np.percentile(ms, 90)),
        "fk_model": model_name,
        "fk_vertices": model.data.num_vertices,
    }
    if against_smplx:
        from engine.hand.smplx_reference import smplx_mano_layer

        reference = smplx_mano_layer(model.data, dtype=torch.float32)
        betas = torch.zeros(frames, model.data.num_betas)  # smplx does not broadcast its default

        def run_reference() -> None:
            with torch.inference_mode():
                reference(hand_pose=pose, global_orient=orient, betas=betas, transl=transl)

        ref_ms = time_call(run_reference, repeats)
        results[f"fk_{frames}_smplx_ms_p50"] = float(np.median(ref_ms))
        results[f"fk_{frames}_speedup_vs_smplx"] = float(np.median(ref_ms) / np.median(ms))
    return results


def _demo_conditions(frames: int, seed: int = 0):
    """A real-looking clip: a synthetic motion's projected 2D keypoints (all frames) as conditions."""
    from engine.data.synthetic import generate_sequence
    from engine.motion.camera import Camera
    from engine.motion.types import Conditions

    seq = generate_sequence(seed, num_frames=frames)
    cam = Camera.default(1280, 720)
    kp = seq.motion.joints - seq.motion.joints[:1, :1] + np.array([0.0, 0.0, 0.5])  # 50 cm before the camera
    uv = np.asarray(cam.project(kp))
    return Conditions(
        fps=30.0, num_frames=frames, kp2d=uv, kp2d_mask=np.ones((frames, 21), bool),
        image_size=np.array([1280, 720]), K=cam.K, kp3d=kp, kp3d_mask=np.zeros((frames, 21), bool),
    )  # fmt: skip


def bench_editing(repeats: int = 20, steps: int = 10, frames: int = 120, long_frames: int = 1000) -> dict:
    """Edit latencies on a `frames` clip (warm model, previous motion kept) and one full infill of
    a `long_frames` clip.

    - `edit_latency_*`: a 3D pin dragged at a random frame: the common edit; every frame of it is
      observed, so it refines without sampling.
    - `sampling_edit_latency_*`: 10 frames at a random place lose their 2D keypoints (masked) and
      are regenerated, with a 3D pin just after them: `steps` DDIM steps with both guided
      modalities (kp2d, kp3d) present, the costliest edit of a 120-frame clip.
    """
    from engine.editing.infill import load_infiller
    from engine.editing.request import InfillRequest

    infiller = load_infiller("cpu")
    cond = _demo_conditions(frames)
    previous = infiller(InfillRequest(cond, steps=steps)).motion
    rng = np.random.default_rng(0)

    def pinned(f: int, joint: int):
        kp3d = np.array(cond.kp3d)
        mask = np.zeros((frames, 21), bool)
        kp3d[f, joint] = previous.joints[f, joint] + rng.normal(0, 0.01, 3)
        mask[f, joint] = True
        return cond.replace(kp3d=kp3d, kp3d_mask=mask)

    def edit() -> None:
        f = int(rng.integers(0, frames))
        request = InfillRequest(
            pinned(f, int(rng.integers(1, 21))), previous=previous, frames=(f, f + 1), steps=steps
        )
        infiller(request)

    def sampling_edit() -> None:
        f = int(rng.integers(0, frames - 11))
        masked = pinned(f + 10, int(rng.integers(1, 21)))
        kp2d_mask = np.array(masked.kp2d_mask)
        kp2d_mask[f : f + 10] = False
        request = InfillRequest(
            masked.replace(kp2d_mask=kp2d_mask), previous=previous, frames=(f, f + 11), steps=steps
        )
        infiller(request)

    ms = time_call(edit, repeats)
    sampling_ms = time_call(sampling_edit, repeats)
    long_cond = _demo_conditions(long_frames, seed=1)
    start = time.perf_counter()
    infiller(InfillRequest(long_cond, steps=steps))
    long_s = time.perf_counter() - start
    return {
        "edit_latency_ms_p50": float(np.median(ms)),
        "edit_latency_ms_p90": float(np.percentile(ms, 90)),
        "sampling_edit_latency_ms_p50": float(np.median(sampling_ms)),
        "sampling_edit_latency_ms_p90": float(np.percentile(sampling_ms, 90)),
        "frames": frames,
        "steps": steps,
        f"infill_{long_frames}_frames_s": round(long_s, 3),
    }


def run_benchmarks(as_json: bool = False, repeats: int = 20) -> int:
    results: dict[str, object] = {
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    # One frame is the interactive path (a dragged joint re-poses the current frame); 1000 the clip.
    for name, frames in (("default", 1), ("default", 1000), ("procedural", 1000)):
        fk = bench_forward_kinematics(
            name, frames, repeats=repeats * (10 if frames == 1 else 1), against_smplx=True
        )
        results.update({k.replace("fk_", f"fk_{name}_", 1): v for k, v in fk.items()})
    from engine.editing.infill import default_checkpoints

    if all(p.exists() for p in default_checkpoints()):
        results.update(bench_editing(repeats=repeats))
    else:
        results["edit_latency"] = "no model checkpoint in assets/model"
    if as_json:
        print(json.dumps(results))
    else:
        for key, value in results.items():
            print(f"{key:32s} {value:.2f}" if isinstance(value, float) else f"{key:32s} {value}")
    return 0

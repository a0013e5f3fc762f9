"""Seams of the decoder's 30-frame segments: plain decode vs the staggered one.

    python benchmarks/decoder_seams.py [--data outputs/corpus] [--windows 20] [--json OUT]

Real validation windows are encoded by the shipped VAE and decoded back, plainly and staggered
(`JointVAE.decode`). Reported: the joints' acceleration (mean |second difference| over the 21
joints, mm/frame^2) centred on the segment boundaries (frames 29/30, 59/60, 89/90) and elsewhere,
the captures' own at the boundaries, and the reconstruction MPJPE.
Results: docs/results/decoder_seams.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SEAMS = [28, 29, 58, 59, 88, 89]  # second-difference indices centred on the boundary frames


def _acceleration_mm(joints: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(joints, 2, axis=0), axis=-1).mean(axis=1) * 1000.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default="outputs/corpus")
    parser.add_argument("--windows", type=int, default=20)
    parser.add_argument("--json", default="docs/results/decoder_seams.json")
    args = parser.parse_args(argv)
    import torch

    from engine.editing.infill import load_infiller
    from engine.eval.infill_eval import load_windows
    from engine.files import write_text_atomic

    infiller = load_infiller("cpu")
    model, hand = infiller.model, infiller.hand_fast
    windows = load_windows(args.data, "real", args.windows, 0)
    rows: dict[str, list[float]] = {}
    with torch.no_grad():
        for pose, transl, betas in zip(windows.mano_pose, windows.mano_transl, windows.betas, strict=True):
            pose_t = torch.as_tensor(pose, dtype=torch.float32)
            transl_t = torch.as_tensor(transl, dtype=torch.float32)
            betas_t = torch.as_tensor(betas, dtype=torch.float32)[None].expand(len(pose), -1)
            _, truth = hand.forward_keypoints(pose_t[:, 3:], pose_t[:, :3], betas_t, transl_t)
            truth = truth.numpy()
            rows.setdefault("captures_at_boundaries", []).append(_acceleration_mm(truth)[SEAMS].mean())
            latents = model.encode_motion(pose_t[None], transl_t[None])
            for name, staggered in (("plain", False), ("staggered", True)):
                p, tr = model.decode(latents, staggered=staggered)
                _, joints = hand.forward_keypoints(p[0, :, 3:], p[0, :, :3], betas_t, tr[0])
                joints = joints.numpy()
                acc = _acceleration_mm(joints)
                rows.setdefault(f"{name}_at_boundaries", []).append(acc[SEAMS].mean())
                rows.setdefault(f"{name}_elsewhere", []).append(np.delete(acc, SEAMS).mean())
                rows.setdefault(f"{name}_mpjpe_mm", []).append(
                    np.linalg.norm(joints - truth, axis=-1).mean() * 1000.0
                )
    report = {"data": args.data, "source": "real val", "windows": len(windows.names), "unit": "mm/frame^2"}
    report.update({k: round(float(np.mean(v)), 2) for k, v in rows.items()})
    print(json.dumps(report, indent=2))
    write_text_atomic(args.json, json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Infilling speed and memory with the shipped model (numbers in assets/model/MODEL_CARD.md).

    python benchmarks/bench_infill.py [--threads 2] [--repeats 20] [--long 10000] [--json OUT]

- edit latency (`engine.eval.bench.bench_editing`, what `main.py bench` runs), median and p90 over
  `repeats`, warm model, previous motion kept, 10 DDIM steps: a 3D pin dragged at a random frame of
  a 120-frame clip (refinement only), and a sampling edit (10 frames masked and regenerated with a
  3D pin beside them: both guided modalities);
- sampling alone: ms per 120-frame window for 10 DDIM steps (the model card's sampling speed);
- a full infill of a 1,000-frame clip, and the peak resident memory of a separate process that
  infills a `long`-frame clip (10,000 by default: ~110 windows).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def long_clip(frames: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    from engine.editing.infill import load_infiller
    from engine.editing.request import InfillRequest
    from engine.eval.bench import _demo_conditions

    infiller = load_infiller("cpu")
    cond = _demo_conditions(frames, seed=2)
    before = _peak_rss_mb()
    start = time.perf_counter()
    motion = infiller(InfillRequest(cond, steps=10)).motion
    return {
        "frames": frames,
        "seconds": round(time.perf_counter() - start, 2),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "rss_before_mb": round(before, 1),
        "finite": bool(np.isfinite(motion.joints).all()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--long", type=int, default=10000)
    parser.add_argument("--json")
    parser.add_argument("--long-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.long_only:
        print(json.dumps(long_clip(args.long, args.threads)))
        return 0
    import torch

    torch.set_num_threads(args.threads)
    from engine.editing.infill import load_infiller
    from engine.eval.bench import bench_editing, time_call
    from engine.model.denoiser import DenoiserConditions

    results: dict = {"threads": args.threads, "device": "cpu", "torch": torch.__version__}
    results.update(bench_editing(repeats=args.repeats))
    model = load_infiller("cpu").model
    from engine.diffusion.sampler import ddim_sample

    def sample() -> None:
        with torch.inference_mode():
            ddim_sample(model.denoiser, (1, 121, model.config.latent_dim), DenoiserConditions(), 10)

    ms = time_call(sample, args.repeats)
    results["ddim_10_steps_window_ms_p50"] = float(np.median(ms))
    proc = subprocess.run(
        [sys.executable, __file__, "--long-only", "--long", str(args.long), "--threads", str(args.threads)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    results[f"infill_{args.long}_frames"] = json.loads(proc.stdout.strip().splitlines()[-1])
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

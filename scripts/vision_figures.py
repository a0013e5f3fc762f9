"""Pictures of the vision path for the docs: training renders, and the training curves of the runs.

    python scripts/vision_figures.py [--corpus outputs/corpus] [--runs runs/vision_3d runs/vision_rope1d ...]

- docs/images/vision_renders.png: held-out windows drawn exactly as `main.py data renders` draws
  them (same code, same seeds), four frames of each;
- docs/images/vision_training_curves.png: per run, the auxiliary pose error (cm, root-relative
  3D keypoints from the hand token alone) and the latent x0 error, train (smoothed) and validation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def renders_strip(corpus: Path, out: Path, windows: int = 4) -> None:
    from PIL import Image

    from engine.data.shards import ShardReader
    from engine.data.vision_renders import RenderConfig, _Worker, choose_windows

    config = RenderConfig()
    reader = ShardReader(corpus / "val")
    worker = _Worker(config)
    chosen = choose_windows(len(reader), 40, config.seed)[:windows]
    rows = []
    for i in chosen:
        _, sample = worker((int(i), reader[int(i)]))
        rows.append(np.concatenate(list(sample[:4]), axis=1))
    Image.fromarray(np.concatenate(rows, axis=0)).save(out)
    print(f"wrote {out}")


def curves(runs: list[Path], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), dpi=110)
    for run in runs:
        acc = EventAccumulator(str(run / "tb" / "vision"))
        acc.Reload()
        tags = acc.Tags()["scalars"]
        for ax, tag in zip(axes, ("pose_aux_cm", "simple"), strict=True):
            if f"train/{tag}" in tags:
                ev = acc.Scalars(f"train/{tag}")
                if not any(e.value for e in ev):
                    continue  # the run without vision tokens has no pose head to plot
                steps = np.array([e.step for e in ev])
                values = np.array([e.value for e in ev])
                k = min(10, len(values))
                smooth = np.convolve(values, np.ones(k) / k, mode="valid")
                (line,) = ax.plot(steps[k - 1 :], smooth, lw=1.2, label=f"{run.name} train")
                history = json.loads((run / "vision_history.json").read_text())["history"]
                ax.plot(
                    [h["step"] for h in history],
                    [h["val"][tag] for h in history],
                    "o--",
                    color=line.get_color(),
                    label=f"{run.name} val",
                )
    axes[0].set_title("auxiliary pose error from the hand token (cm)")
    axes[1].set_title("denoiser x0 error (unit-variance latents)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)
    print(f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", default=str(REPO / "outputs" / "corpus"))
    parser.add_argument("--runs", nargs="*", default=[])
    parser.add_argument("--images", default=str(REPO / "docs" / "images"))
    args = parser.parse_args(argv)
    images = Path(args.images)
    images.mkdir(parents=True, exist_ok=True)
    renders_strip(Path(args.corpus), images / "vision_renders.png")
    runs = [Path(r) for r in args.runs if (Path(r) / "vision_history.json").exists()]
    if runs:
        curves(runs, images / "vision_training_curves.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

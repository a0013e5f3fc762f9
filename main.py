"""UniHand Studio entry point: no arguments opens the GUI on the built-in demo; subcommands run the
engine from the command line (the contract is DESIGN.md section 4)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

EXIT_USER_ERROR = 1
EXIT_NOT_AVAILABLE = 3

# Subcommands whose engine part has not landed yet, and the issue that will bring it.
_PLANNED: dict[str, str] = {}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="main.py", description="UniHand Studio: edit 3D hand motion.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gui = sub.add_parser("gui", help="open the editor (on a video, a session, or the built-in demo)")
    gui.add_argument("path", nargs="?", help="VIDEO or SESSION file")

    est = sub.add_parser("estimate", help="estimate hand motion from a video")
    est.add_argument("video")
    est.add_argument("-o", "--output", required=True)
    est.add_argument("--hand", choices=("auto", "right", "left"), default="auto")
    est.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    est.add_argument(
        "--vision",
        choices=("auto", "on", "off"),
        default="auto",
        help="vision tokens from the frames (auto: when the vision checkpoint is installed)",
    )

    inf = sub.add_parser("infill", help="complete motion from conditions files (or directories of them)")
    inf.add_argument("inputs", nargs="+")
    inf.add_argument("-o", "--output", required=True)
    inf.add_argument("--samples", type=int, default=1)
    inf.add_argument("--seed", type=int, default=0)
    inf.add_argument("--steps", type=int, default=10)
    inf.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when present")

    exp = sub.add_parser("export", help="export a motion file to FBX, glTF/GLB, BVH or NPZ")
    exp.add_argument("motion", nargs="+", help="MOTION.npz, or a right and a left one for both hands")
    exp.add_argument("-o", "--output", required=True, help="OUT.fbx, .glb, .bvh or .npz")

    fit = sub.add_parser("fit", help="fit MANO motion to the keypoints in conditions files")
    fit.add_argument("inputs", nargs="+")
    fit.add_argument("-o", "--output", required=True)
    fit.add_argument("--hand-model", default="default", help="default, procedural, mano or a .npz path")

    data = sub.add_parser("data", help="training data tools")
    data.add_argument("action", choices=("build", "renders"))
    data.add_argument("--config", help="TOML or JSON build config (engine/data/build.py DataBuildConfig)")
    data.add_argument("--out", help="output directory (default outputs/corpus)")
    data.add_argument("--synthetic", type=int, metavar="N", help="number of synthetic sequences")
    data.add_argument("--real", metavar="PATH[,PATH]", help="fitted real corpora to cut windows from")
    data.add_argument("--corpus", default="outputs/corpus", help="renders: the shard directory to draw from")
    data.add_argument("--train-windows", type=int, default=240, help="renders: windows drawn from train/")
    data.add_argument("--val-windows", type=int, default=40, help="renders: windows drawn from val/")
    data.add_argument("--workers", type=int, default=2, help="renders: processes")
    data.add_argument(
        "--layer",
        default="stage5",
        choices=("stage5", "stage7", "head", "dinov2"),
        help="renders: backbone tokens (dinov2: local weights from $UNIHAND_DINOV2)",
    )

    train = sub.add_parser("train", help="train the VAE, the denoiser, the vision path, or the gap refiner")
    train.add_argument("stage", choices=("vae", "denoiser", "vision", "gap"))
    train.add_argument("--config", help="TOML or JSON training config (engine/train/config.py TrainConfig)")
    train.add_argument("--resume", action="store_true", help="continue from <out>/<stage>_state.pt")
    train.add_argument("--steps", type=int, help="override the config's number of steps")

    ev = sub.add_parser("eval", help="evaluate a trained model")
    ev.add_argument("task", nargs="?", choices=("gap", "lift", "all"), default="all")
    ev.add_argument("--data", default="outputs/corpus", help="shard directory (its val split is used)")
    ev.add_argument("--source", choices=("real", "synthetic", "all"), default="real")
    ev.add_argument("--windows", type=int, default=60, help="seeded subset of val windows (0: all)")
    ev.add_argument("--steps", type=int, default=10)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--json", metavar="OUT", help="also write the report here")

    bench = sub.add_parser("bench", help="run the engine benchmarks")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    bench.add_argument("--repeats", type=int, default=20)

    imp = sub.add_parser("import-mano", help="import your MANO_RIGHT.pkl / MANO_LEFT.pkl (converted once)")
    imp.add_argument("files", nargs="+")
    return parser


def _run_gui(args: argparse.Namespace) -> int:
    from app.main_window import run_app  # Qt is imported only when the GUI is asked for

    return run_app(getattr(args, "path", None))


def _run_bench(args: argparse.Namespace) -> int:
    from engine.eval.bench import run_benchmarks

    return run_benchmarks(as_json=args.json, repeats=args.repeats)


def _run_import_mano(args: argparse.Namespace) -> int:
    from engine.hand.mano_import import import_mano

    for path in args.files:
        out = import_mano(path)
        print(f"imported {path} -> {out}")
    return 0


def _run_fit(args: argparse.Namespace) -> int:
    from engine.data.fit_files import fit_paths

    fit_paths(args.inputs, args.output, hand_model=args.hand_model)
    return 0


def _run_data(args: argparse.Namespace) -> int:
    if args.action == "renders":
        from engine.data.vision_renders import RenderConfig, build_renders

        out = Path(args.out or "outputs/renders")
        config = RenderConfig(layer=args.layer)
        for split, count in (("val", args.val_windows), ("train", args.train_windows)):
            build_renders(Path(args.corpus) / split, out / split, count, config, workers=args.workers)
        print(f"wrote rendered windows with backbone tokens to {out}")
        return 0
    from engine.data.build import DataBuildConfig, build_corpus, load_build_config

    config = load_build_config(args.config) if args.config else DataBuildConfig()
    overrides = {"out_dir": args.out, "synthetic_sequences": args.synthetic, "real_path": args.real}
    config = config.replace(**{k: v for k, v in overrides.items() if v is not None})
    summary = build_corpus(config)
    print(
        f"wrote {summary.train_windows} train and {summary.val_windows} val windows "
        f"({summary.train_sequences} + {summary.val_sequences} sequences) to {summary.out_dir} "
        f"in {summary.seconds:.1f} s"
    )
    return 0


def _run_export(args: argparse.Namespace) -> int:
    from engine.export import export_motions

    result = export_motions(args.motion, args.output)
    print(
        f"wrote {result.path} ({result.format.upper()}, {' + '.join(result.hands)} hand, "
        f"{result.frames} frames at {result.fps:g} fps)"
    )
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def _run_estimate(args: argparse.Namespace) -> int:
    from engine.video.estimate import estimate_video

    vision = args.vision == "on"
    if args.vision == "auto":
        from engine.editing.infill import default_vision_checkpoint

        vision = default_vision_checkpoint().is_file()
        if not vision:
            print(
                f"note: no vision checkpoint at {default_vision_checkpoint()}; using 2D keypoints only",
                file=sys.stderr,
            )
    for r in estimate_video(args.video, args.output, hand=args.hand, device=args.device, vision=vision):
        print(
            f"wrote {r.path}: {r.handedness} hand, {r.frames} frames, hand detected in "
            f"{r.detected_frames}, {r.seconds:.1f} s"
        )
    return 0


def _run_infill(args: argparse.Namespace) -> int:
    from engine.editing.cli import infill_paths

    if args.samples < 1 or args.steps < 1:
        print("error: --samples and --steps must be at least 1", file=sys.stderr)
        return 2
    reports = infill_paths(args.inputs, args.output, args.samples, args.seed, args.steps, args.device)
    return EXIT_USER_ERROR if any(r.error for r in reports) else 0


def _run_eval(args: argparse.Namespace) -> int:
    import json

    from engine.eval.infill_eval import run_eval

    tasks = ("gap", "lift") if args.task == "all" else (args.task,)
    report = run_eval(args.data, tasks, args.source, args.windows or None, args.steps, args.seed, args.json)
    print(json.dumps(report, indent=2))
    return 0


def _run_train(args: argparse.Namespace) -> int:
    from engine.train.config import TrainConfig, load_train_config
    from engine.train.trainer import train

    config = load_train_config(args.config) if args.config else TrainConfig()
    if args.steps is not None:
        config = config.replace(steps=args.steps)
    path = train(args.stage, config, resume=args.resume)
    print(f"wrote {path}")
    return 0


_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "train": _run_train,
    "infill": _run_infill,
    "estimate": _run_estimate,
    "eval": _run_eval,
    "export": _run_export,
    "data": _run_data,
    "fit": _run_fit,
    "gui": _run_gui,
    "bench": _run_bench,
    "import-mano": _run_import_mano,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    command = args.command or "gui"
    if command in _PLANNED:
        print(
            f"main.py {command}: not available yet in this version ({_PLANNED[command]}).",
            file=sys.stderr,
        )
        return EXIT_NOT_AVAILABLE
    from engine.errors import UniHandError

    try:
        return _HANDLERS[command](args)
    except UniHandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""What the inference-setting sweeps share (sweep_guidance.py, sweep_gap_fingers.py): their command
line, the warm model, the seeded synthetic validation windows (the real split is kept for the
model card's final numbers) and the report they write."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Sweep:
    args: argparse.Namespace
    infiller: Any  # engine.editing.infill.DiffusionInfiller
    windows: Any  # engine.eval.infill_eval.EvalWindows
    report: dict

    def add(self, name: str, row: dict) -> None:
        self.report[name] = row
        print(name, json.dumps(row), flush=True)

    def write(self) -> None:
        from engine.files import write_text_atomic

        write_text_atomic(self.args.json, json.dumps(self.report, indent=2))


def start_sweep(doc: str, windows: int, json_path: str, argv: list[str] | None) -> Sweep:
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--data", default="outputs/corpus")
    parser.add_argument("--windows", type=int, default=windows)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=json_path)
    # Never the real val split: it is kept for the model card. Real *training* windows show how a
    # setting does on real motion (the model has seen them, the setting has not).
    parser.add_argument("--source", choices=("synthetic", "real"), default="synthetic")
    parser.add_argument("--split", choices=("val", "train"), default="val")
    args = parser.parse_args(argv)
    if args.source == "real" and args.split == "val":
        parser.error("the real val split is kept for the model card; sweep on --split train")
    import torch

    torch.set_num_threads(args.threads)
    from engine.editing.infill import load_infiller
    from engine.eval.infill_eval import load_windows

    val = load_windows(args.data, args.source, args.windows, 0, args.split)
    report = {
        "data": args.data,
        "source": f"{args.source} {args.split}",
        "windows": len(val.names),
        "steps": 10,
    }
    return Sweep(args, load_infiller("cpu"), val, report)

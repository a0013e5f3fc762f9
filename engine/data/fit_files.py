"""`python main.py fit COND.npz|DIR ... -o MOTION.npz|OUTDIR`: files in, files out, one process."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from engine.data.fitting import FitError, fit_conditions
from engine.errors import UniHandError
from engine.motion.io import load_conditions, save_motion


def resolve_inputs(inputs: list[str]) -> tuple[list[Path], bool]:
    """Expand directories to their *.npz files; also say whether the output must be a directory."""
    files: list[Path] = []
    many = len(inputs) > 1
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.glob("*.npz") if p.is_file())
            if not found:
                raise UniHandError(f"{path}: the directory holds no .npz conditions files")
            files.extend(found)
            many = True
        elif path.is_file():
            files.append(path)
        else:
            raise UniHandError(f"{path}: no such file or directory")
    names = [p.name for p in files]
    if many and len(set(names)) != len(names):
        raise UniHandError("two inputs have the same file name; their outputs would overwrite each other")
    return files, many


def fit_paths(
    inputs: list[str], output: str, hand_model: str = "default", progress: bool = True
) -> list[Path]:
    """Fit every conditions file; returns the motion files written. A file that fails stops the run
    with its name in the message (outputs already written are kept)."""
    files, many = resolve_inputs(inputs)
    out = Path(output)
    if many and out.suffix.lower() == ".npz":
        raise UniHandError(f"{out}: several inputs need an output directory, not a file")
    written = []
    for path in tqdm(files, desc="fitting", unit="file", disable=not progress or len(files) < 2):
        target = out / path.name if many else out
        cond = load_conditions(path)
        try:
            result = fit_conditions(cond, hand_model=hand_model)
        except FitError as exc:
            raise FitError(f"{path}: {exc}") from exc
        written.append(save_motion(target, result.motion))
        if progress:
            tqdm.write(
                f"{path.name}: {result.motion.num_frames} frames, mean keypoint error "
                f"{result.mpjpe * 1000:.2f} mm, {result.seconds:.1f} s -> {target}"
            )
    return written

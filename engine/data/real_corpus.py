"""The real-capture corpus: GRAB / ARCTIC keypoint tracks (../shared/data/real) fitted with a hand
model, split by object into train and validation, stored as one fitted-corpus file per dataset.

The captures are research-only and never enter the repository; neither do their fits (they go to
`outputs/real_fits/`, which git ignores). Left-hand tracks are mirrored into right hands before
fitting: the model is a right-hand network (DESIGN.md section 2).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import FileFormatError
from engine.files import write_npz_atomic
from engine.hand.mirror import mirror_points
from engine.motion.types import HandMotion

FITTED_CORPUS_FORMAT = "unihand.fitted_corpus/1"

# Whole objects held out from training (about 14 % of GRAB s1's frames, 12 % of ARCTIC's), so the
# validation split measures generalisation to unseen grasps, not to unseen frames of seen ones.
VAL_OBJECTS = {
    "grab": ("binoculars", "cubesmall", "hammer", "spheremedium", "teapot", "toothbrush"),
    "arctic": ("mixer",),
}


@dataclass(frozen=True)
class CapturedSequence:
    name: str
    dataset: str  # "grab" | "arctic"
    object: str
    handedness: str  # of the captured hand; the fit is always of a right hand
    joints: np.ndarray  # (T,21,3) MP21 metres, capture frame
    fps: float

    @property
    def split(self) -> str:
        return "val" if self.object in VAL_OBJECTS.get(self.dataset, ()) else "train"


def _dataset_of(path: Path) -> str:
    stem = path.stem.lower()
    for name in VAL_OBJECTS:
        if stem.startswith(name):
            return name
    return stem


def _object_of(dataset: str, name: str) -> str:
    parts = name.split("_")
    # GRAB: "<object>_<action>[_n]"; ARCTIC: "s01_<object>_<action>_<n>_<side>".
    return parts[1] if dataset == "arctic" and len(parts) > 1 else parts[0]


def load_capture_file(path: str | Path) -> list[CapturedSequence]:
    """Read a capture file (`seq_names`, `offsets`, `lengths`, `joints`, `fps`, `handedness`)."""
    path = Path(path)
    if not path.is_file():
        raise FileFormatError(f"{path}: no such capture file")
    if not zipfile.is_zipfile(path):
        raise FileFormatError(f"{path}: not an .npz capture file")
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in ("seq_names", "offsets", "lengths", "joints", "fps") if k not in data.files]
        if missing:
            raise FileFormatError(f"{path}: missing keys {missing}")
        names = [str(n) for n in data["seq_names"]]
        offsets, lengths = data["offsets"].astype(int), data["lengths"].astype(int)
        joints = data["joints"]
        fps = float(data["fps"])
        hands = data["handedness"] if "handedness" in data.files else np.array("right")
    if joints.ndim != 3 or joints.shape[1:] != (21, 3):
        raise FileFormatError(f"{path}: joints must be (N, 21, 3), got {joints.shape}")
    if (offsets + lengths).max(initial=0) > len(joints):
        raise FileFormatError(f"{path}: offsets + lengths run past the {len(joints)} frames of joints")
    dataset = _dataset_of(path)
    return [
        CapturedSequence(
            name=name,
            dataset=dataset,
            object=_object_of(dataset, name),
            handedness=str(hands) if hands.ndim == 0 else str(hands[i]),
            joints=np.asarray(joints[offsets[i] : offsets[i] + lengths[i]], dtype=np.float64),
            fps=fps,
        )
        for i, name in enumerate(names)
    ]


@dataclass(frozen=True)
class FittedSequence:
    name: str
    dataset: str
    object: str
    split: str
    captured_handedness: str
    motion: HandMotion  # right hand, capture frame (left tracks mirrored in)
    captured: np.ndarray  # (T,21,3) the keypoints that were fitted (mirrored for left tracks)
    errors: np.ndarray  # (T,21) metres


def fit_capture(
    sequences: list[CapturedSequence],
    hand_model: str = "default",
    progress: Callable[[CapturedSequence], None] | None = None,
) -> list[FittedSequence]:
    """Fit every sequence (one shape each) with `engine.data.fitting.fit_keypoints`."""
    from engine.data.fitting import fit_keypoints

    fitted = []
    for seq in sequences:
        keypoints = mirror_points(seq.joints) if seq.handedness == "left" else seq.joints
        result = fit_keypoints(keypoints, fps=seq.fps, handedness="right", hand_model=hand_model)
        fitted.append(
            FittedSequence(
                name=seq.name,
                dataset=seq.dataset,
                object=seq.object,
                split=seq.split,
                captured_handedness=seq.handedness,
                motion=result.motion,
                captured=keypoints,
                errors=result.errors,
            )
        )
        if progress is not None:
            progress(seq)
    return fitted


def save_fitted_corpus(path: str | Path, fitted: list[FittedSequence]) -> Path:
    """One .npz per dataset: the sequences concatenated, with offsets and lengths."""
    if not fitted:
        raise ValueError("nothing to save: no fitted sequences")
    lengths = np.array([f.motion.num_frames for f in fitted])

    def cat(get: Callable[[FittedSequence], np.ndarray]) -> np.ndarray:
        return np.concatenate([get(f) for f in fitted])

    return write_npz_atomic(
        path,
        {
            "format": np.array(FITTED_CORPUS_FORMAT),
            "hand_model": np.array(fitted[0].motion.hand_model),
            "fps": np.array(fitted[0].motion.fps),
            "seq_names": np.array([f.name for f in fitted]),
            "datasets": np.array([f.dataset for f in fitted]),
            "objects": np.array([f.object for f in fitted]),
            "splits": np.array([f.split for f in fitted]),
            "captured_handedness": np.array([f.captured_handedness for f in fitted]),
            "lengths": lengths,
            "offsets": np.concatenate([[0], np.cumsum(lengths)[:-1]]),
            "betas": np.stack([f.motion.betas for f in fitted]),
            "global_orient": cat(lambda f: f.motion.global_orient),
            "hand_pose": cat(lambda f: f.motion.hand_pose),
            "transl": cat(lambda f: f.motion.transl),
            "joints": cat(lambda f: f.motion.joints),
            "captured": cat(lambda f: f.captured),
            "errors": cat(lambda f: f.errors),
        },
    )


def load_fitted_corpus(path: str | Path) -> list[FittedSequence]:
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        raise FileFormatError(f"{path}: not a fitted-corpus file (run scripts/fit_real_corpus.py)")
    with np.load(path, allow_pickle=False) as data:
        if "format" not in data.files or str(data["format"]) != FITTED_CORPUS_FORMAT:
            raise FileFormatError(f"{path}: format is not {FITTED_CORPUS_FORMAT!r}")
        d = {k: data[k] for k in data.files}
    out = []
    for i, name in enumerate(d["seq_names"]):
        s = slice(int(d["offsets"][i]), int(d["offsets"][i] + d["lengths"][i]))
        motion = HandMotion(
            fps=float(d["fps"]),
            handedness="right",
            hand_model=str(d["hand_model"]),
            global_orient=d["global_orient"][s],
            hand_pose=d["hand_pose"][s],
            transl=d["transl"][s],
            betas=d["betas"][i],
            joints=d["joints"][s],
        )
        out.append(
            FittedSequence(
                name=str(name),
                dataset=str(d["datasets"][i]),
                object=str(d["objects"][i]),
                split=str(d["splits"][i]),
                captured_handedness=str(d["captured_handedness"][i]),
                motion=motion,
                captured=d["captured"][s],
                errors=d["errors"][s],
            )
        )
    return out


def iter_fitted_sequences(path: str | Path) -> Iterator[tuple[str, str, HandMotion]]:
    """(name, split, right-hand motion in the capture frame) for the training-data builder."""
    for seq in load_fitted_corpus(path):
        yield f"{seq.dataset}/{seq.name}", seq.split, seq.motion

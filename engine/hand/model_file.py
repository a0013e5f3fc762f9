"""The project's MANO-format hand-model file (`unihand.handmodel/1`, numpy .npz, no pickles).

Every hand model (the embedded default hand, the procedural hand, a user's imported MANO) is
stored and exchanged as `HandModelData`, so one forward-kinematics path serves them all. The
arrays are exactly those smplx's MANO layer needs (DESIGN.md section 5) plus the fingertip
vertices, which differ per mesh.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from engine.errors import HandModelError
from engine.files import write_npz_atomic
from engine.hand.skeleton import MANO_PARENTS, NUM_MANO_JOINTS, POSE_DIM

HAND_MODEL_FORMAT = "unihand.handmodel/1"
SIDES = ("right", "left")


@dataclass(frozen=True)
class HandModelData:
    """Arrays of a MANO-format hand model. Units: metres. Joint order: MANO's 16 joints."""

    name: str
    side: str
    v_template: np.ndarray  # (V,3)
    faces: np.ndarray  # (F,3) int, outward-facing counter-clockwise winding
    weights: np.ndarray  # (V,16) skinning weights, rows sum to 1
    j_regressor: np.ndarray  # (16,V) rows sum to 1
    shapedirs: np.ndarray  # (V,3,S)
    posedirs: np.ndarray  # (V,3,135); all zeros for models without pose correctives
    tip_vertex_ids: np.ndarray  # (5,) thumb, index, middle, ring, pinky
    hands_components: np.ndarray = field(default_factory=lambda: np.eye(POSE_DIM))
    hands_mean: np.ndarray = field(default_factory=lambda: np.zeros(POSE_DIM))
    shape_names: tuple[str, ...] = ()
    attribution: str = ""
    licence: str = ""

    def __post_init__(self) -> None:
        validate_hand_model(self)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[2])

    @property
    def has_pose_correctives(self) -> bool:
        return bool(np.any(self.posedirs))

    def rest_joints(self, betas: np.ndarray | None = None) -> np.ndarray:
        """(16,3) joint centres of the rest pose for the given shape (zeros by default)."""
        verts = self.v_template
        if betas is not None:
            b = np.asarray(betas, dtype=np.float64)[: self.num_betas]
            verts = verts + self.shapedirs[..., : b.shape[0]] @ b
        return self.j_regressor @ verts

    def with_changes(self, **changes: object) -> HandModelData:
        return replace(self, **changes)


def _fail(name: str, message: str) -> None:
    raise HandModelError(f"hand model '{name}': {message}")


def validate_hand_model(data: HandModelData) -> None:
    """Check shapes, dtypes and basic sanity; raise HandModelError naming the offending array."""
    name = data.name or "?"
    if data.side not in SIDES:
        _fail(name, f"side must be 'right' or 'left', got {data.side!r}")
    v = data.v_template
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] < 4:
        _fail(name, f"v_template must have shape (V,3), got {v.shape}")
    num_v = v.shape[0]
    expected = {
        "faces": (None, 3),
        "weights": (num_v, NUM_MANO_JOINTS),
        "j_regressor": (NUM_MANO_JOINTS, num_v),
        "shapedirs": (num_v, 3, None),
        "posedirs": (num_v, 3, 9 * (NUM_MANO_JOINTS - 1)),
        "tip_vertex_ids": (5,),
        "hands_components": (None, POSE_DIM),
        "hands_mean": (POSE_DIM,),
    }
    for key, shape in expected.items():
        arr = getattr(data, key)
        if not isinstance(arr, np.ndarray) or arr.ndim != len(shape):
            _fail(
                name,
                f"{key} must be an array of shape {shape} (None = any), got {getattr(arr, 'shape', arr)}",
            )
        for got, want in zip(arr.shape, shape, strict=True):
            if want is not None and got != want:
                _fail(name, f"{key} must have shape {shape} (None = any), got {arr.shape}")
        if key in ("faces", "tip_vertex_ids"):
            if not np.issubdtype(arr.dtype, np.integer):
                _fail(name, f"{key} must be integer, got {arr.dtype}")
            if arr.size and (arr.min() < 0 or arr.max() >= num_v):
                _fail(name, f"{key} refers to vertices outside 0..{num_v - 1}")
        elif not np.issubdtype(arr.dtype, np.floating):
            _fail(name, f"{key} must be floating point, got {arr.dtype}")
        elif not np.all(np.isfinite(arr)):
            _fail(name, f"{key} contains NaN or infinite values")
    if not np.issubdtype(v.dtype, np.floating) or not np.all(np.isfinite(v)):
        _fail(name, "v_template must be finite floating point")
    if not np.allclose(data.weights.sum(axis=1), 1.0, atol=1e-4):
        _fail(name, "skinning weights must sum to 1 for every vertex")
    if not np.allclose(data.j_regressor.sum(axis=1), 1.0, atol=1e-4):
        _fail(name, "every J_regressor row must sum to 1")
    extent = np.ptp(v, axis=0).max()
    if not 0.02 < extent < 1.0:
        _fail(name, f"the mesh is {extent:.3g} units across; hand models must be in metres (0.02-1 m)")


def save_hand_model(path: str | os.PathLike[str], data: HandModelData) -> Path:
    """Write atomically (temp file, fsync, rename) as compressed .npz."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "format": np.array(HAND_MODEL_FORMAT),
        "name": np.array(data.name),
        "side": np.array(data.side),
        "v_template": data.v_template.astype(np.float32),
        "f": data.faces.astype(np.int32),
        "weights": data.weights.astype(np.float32),
        "J_regressor": data.j_regressor.astype(np.float32),
        "kintree_table": np.stack([np.array(MANO_PARENTS), np.arange(NUM_MANO_JOINTS)]).astype(np.int64),
        "shapedirs": data.shapedirs.astype(np.float32),
        "posedirs": data.posedirs.astype(np.float32),
        "tip_vertex_ids": data.tip_vertex_ids.astype(np.int64),
        "hands_components": data.hands_components.astype(np.float32),
        "hands_mean": data.hands_mean.astype(np.float32),
        "shape_names": np.array(list(data.shape_names), dtype=np.str_),
        "attribution": np.array(data.attribution),
        "licence": np.array(data.licence),
    }
    write_npz_atomic(path, arrays)
    return path


def load_hand_model(path: str | os.PathLike[str]) -> HandModelData:
    """Read a `unihand.handmodel/1` file; refuses pickles and reports what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise HandModelError(f"hand model file not found: {path}")
    if not zipfile.is_zipfile(path):  # np.load would otherwise try to unpickle it
        raise HandModelError(f"{path}: not a readable .npz hand model (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as exc:  # numpy refuses object arrays without allow_pickle
        raise HandModelError(f"{path}: contains pickled objects, which are never loaded ({exc})") from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise HandModelError(f"{path}: not a readable .npz hand model ({exc})") from exc
    fmt = str(arrays.get("format", ""))
    if fmt != HAND_MODEL_FORMAT:
        raise HandModelError(f"{path}: format is {fmt!r}, expected {HAND_MODEL_FORMAT!r}")
    required = ("name", "side", "v_template", "f", "weights", "J_regressor", "shapedirs", "posedirs")
    missing = [k for k in (*required, "tip_vertex_ids") if k not in arrays]
    if missing:
        raise HandModelError(f"{path}: missing arrays {missing}")
    kintree = arrays.get("kintree_table")
    if kintree is not None:
        parents = [int(p) for p in kintree[0]]
        parents[0] = -1
        if tuple(parents) != MANO_PARENTS:
            raise HandModelError(f"{path}: kinematic tree {parents} is not MANO's {list(MANO_PARENTS)}")

    def f64(key: str) -> np.ndarray:
        return np.asarray(arrays[key], dtype=np.float64)

    return HandModelData(
        name=str(arrays["name"]),
        side=str(arrays["side"]),
        v_template=f64("v_template"),
        faces=np.asarray(arrays["f"], dtype=np.int64),
        weights=f64("weights"),
        j_regressor=f64("J_regressor"),
        shapedirs=f64("shapedirs"),
        posedirs=f64("posedirs"),
        tip_vertex_ids=np.asarray(arrays["tip_vertex_ids"], dtype=np.int64),
        hands_components=f64("hands_components") if "hands_components" in arrays else np.eye(POSE_DIM),
        hands_mean=f64("hands_mean") if "hands_mean" in arrays else np.zeros(POSE_DIM),
        shape_names=tuple(str(s) for s in arrays.get("shape_names", ())),
        attribution=str(arrays.get("attribution", "")),
        licence=str(arrays.get("licence", "")),
    )

"""Import a user's real MANO_RIGHT/LEFT.pkl without chumpy, and without trusting the pickle.

MANO's pickles (Python 2, protocol 2) hold numpy arrays, a scipy sparse J_regressor and chumpy
`Ch` objects. chumpy no longer imports on Python 3.11 / numpy 2, and unpickling runs whatever a
file names, so `RestrictedUnpickler` resolves only an allow-list of names: numpy's array
reconstruction, and inert stand-ins for chumpy and scipy-sparse objects that merely record
their state. Any other global (os.system, builtins.eval, subprocess...) is refused before it
is looked up, so nothing in the file executes. The result is converted once to the project's
.npz hand-model format in the user's data directory.
"""

from __future__ import annotations

import _codecs
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import HandModelError, UnsafePickleError
from engine.hand.model_file import HandModelData, save_hand_model
from engine.hand.skeleton import MANO_TIP_VERTEX_IDS, NUM_MANO_JOINTS
from engine.paths import user_data_dir

MANO_LICENCE = (
    "MANO model by the Max Planck Institute for Intelligent Systems; imported by the user under MPI's "
    "MANO licence (non-commercial research use). It is never redistributed with UniHand Studio."
)
_MAX_PICKLE_BYTES = 200 * 1024 * 1024


class _StateHolder:
    """Base of the inert stand-ins: records whatever state the pickle sets, runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._args = args

    def __setstate__(self, state: Any) -> None:
        self._state = state

    def state_dict(self) -> dict[str, Any]:
        state = getattr(self, "_state", None)
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}  # (dict, slotstate) form
        return state if isinstance(state, dict) else {}


class ChumpyStandIn(_StateHolder):
    """Takes the place of any chumpy object; its value is the `x` array chumpy stores."""

    def to_array(self) -> np.ndarray:
        state = self.state_dict()
        value = state.get("x", state.get("_x"))
        if value is None:
            raise HandModelError(
                "the MANO file holds a chumpy expression rather than a stored array; "
                "re-export it with plain arrays or use the official MANO v1.2 files"
            )
        return np.asarray(value)


class SparseStandIn(_StateHolder):
    """Takes the place of scipy.sparse csc/csr/coo matrices; densified with numpy alone."""

    fmt = ""  # set per subclass: the pickle may bypass __init__

    def to_array(self) -> np.ndarray:
        s = self.state_dict()
        shape = tuple(int(n) for n in s.get("_shape", s.get("shape", ())))
        data = np.asarray(s.get("data"))
        if len(shape) != 2 or data is None:
            raise HandModelError("the MANO file's sparse matrix has no shape or data")
        dense = np.zeros(shape, dtype=np.float64)
        fmt = self.fmt or str(s.get("format", ""))
        if fmt in ("csc", "csr"):
            indices = np.asarray(s["indices"], dtype=np.int64)
            indptr = np.asarray(s["indptr"], dtype=np.int64)
            major = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
            rows, cols = (indices, major) if fmt == "csc" else (major, indices)
        elif fmt == "coo":
            rows = np.asarray(s["row"], dtype=np.int64)
            cols = np.asarray(s["col"], dtype=np.int64)
        else:
            raise HandModelError(f"the MANO file's sparse matrix has an unknown format {fmt!r}")
        np.add.at(dense, (rows, cols), data)
        return dense


_SPARSE = {fmt: type(f"Sparse_{fmt}", (SparseStandIn,), {"fmt": fmt}) for fmt in ("csc", "csr", "coo")}
_STAND_INS = (ChumpyStandIn, *_SPARSE.values())


def _safe_reconstructor(cls: type, base: type, state: Any) -> Any:
    # copyreg._reconstructor(cls, base, state) would call base.__new__/base.__init__ on anything;
    # only the inert stand-ins may be built this way.
    if cls not in _STAND_INS or base is not object:
        raise UnsafePickleError(f"refused to reconstruct {cls!r} from base {base!r}")
    return cls.__new__(cls)


def _numpy_reconstruct() -> Any:
    try:
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
    return _reconstruct


def _numpy_scalar() -> Any:
    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]
    return scalar


# Inert containers chumpy's state uses (e.g. its `_dirty_vars` set), and the reconstructor base.
_SAFE_BUILTINS: dict[str, type] = {"object": object, "set": set, "frozenset": frozenset}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names a MANO file legitimately uses."""

    def find_class(self, module: str, name: str) -> Any:
        if module.split(".")[0] == "chumpy":
            return ChumpyStandIn
        if module.startswith("scipy.sparse"):
            for fmt, cls in _SPARSE.items():
                if name == f"{fmt}_matrix" or name == f"{fmt}_array":
                    return cls
        if module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            if name == "_reconstruct":
                return _numpy_reconstruct()
            if name == "scalar":
                return _numpy_scalar()
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return _safe_reconstructor
        if module in ("__builtin__", "builtins") and name in _SAFE_BUILTINS:
            return _SAFE_BUILTINS[name]
        if module == "_codecs" and name == "encode":
            # Python 3 writes bytes into protocol-2 pickles as _codecs.encode(text, "latin1").
            return _codecs.encode
        raise UnsafePickleError(
            f"refused to load '{module}.{name}': a MANO file never needs it, and loading it could run "
            "code. The file is not a genuine MANO model or has been tampered with."
        )


def read_mano_pickle(data: bytes) -> dict[str, Any]:
    """Unpickle a MANO file's bytes safely into a dict of numpy arrays and strings."""
    if len(data) > _MAX_PICKLE_BYTES:
        raise HandModelError(f"file is {len(data) / 1e6:.0f} MB; MANO files are about 4 MB")
    try:
        raw = RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # any corruption: truncated stream, bad opcodes, wrong types
        raise HandModelError(f"not a readable MANO pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(raw, dict):
        raise HandModelError(f"a MANO file holds a dict of arrays, this one holds {type(raw).__name__}")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, ChumpyStandIn | SparseStandIn):
            value = value.to_array()
        out[str(key)] = value
    return out


_REQUIRED = ("v_template", "f", "weights", "J_regressor", "kintree_table", "shapedirs", "posedirs")


def _side_from_filename(path: Path) -> str | None:
    stem = path.name.upper()
    if "RIGHT" in stem:
        return "right"
    if "LEFT" in stem:
        return "left"
    return None


def mano_dict_to_model(raw: dict[str, Any], side: str, source: str = "MANO") -> HandModelData:
    """Convert an unpickled MANO dict to `HandModelData`, applying the left-hand shapedirs fix."""
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise HandModelError(f"{source}: not a MANO model, missing {missing}")

    def arr(key: str) -> np.ndarray:
        value = np.asarray(raw[key])
        if value.dtype == object:
            raise HandModelError(f"{source}: '{key}' is not a numeric array")
        return value

    v_template = arr("v_template").astype(np.float64)
    if v_template.ndim != 2 or v_template.shape[1] != 3:
        raise HandModelError(f"{source}: v_template has shape {v_template.shape}, expected (V,3)")
    kintree = arr("kintree_table")
    if kintree.shape != (2, NUM_MANO_JOINTS):
        raise HandModelError(
            f"{source}: kintree_table has shape {kintree.shape}; a MANO hand has {NUM_MANO_JOINTS} joints "
            "(is this an SMPL/SMPL-X body model?)"
        )
    shapedirs = arr("shapedirs").astype(np.float64)
    if side == "left":
        # MANO_LEFT.pkl ships with the x component of its shape directions negated (smplx issue 48).
        shapedirs = shapedirs.copy()
        shapedirs[:, 0, :] *= -1.0
    posedirs = arr("posedirs").astype(np.float64)
    if posedirs.ndim == 2:
        posedirs = posedirs.reshape(v_template.shape[0], 3, -1)
    num_v = v_template.shape[0]
    tips = np.array(MANO_TIP_VERTEX_IDS, dtype=np.int64)
    if num_v <= tips.max():
        raise HandModelError(f"{source}: {num_v} vertices; MANO has 778")
    return HandModelData(
        name="mano",
        side=side,
        v_template=v_template,
        faces=arr("f").astype(np.int64),
        weights=arr("weights").astype(np.float64),
        j_regressor=arr("J_regressor").astype(np.float64),
        shapedirs=shapedirs,
        posedirs=posedirs,
        tip_vertex_ids=tips,
        hands_components=arr("hands_components").astype(np.float64)
        if "hands_components" in raw
        else np.eye(45),
        hands_mean=arr("hands_mean").astype(np.float64).reshape(-1) if "hands_mean" in raw else np.zeros(45),
        shape_names=tuple(f"mano_pc{i}" for i in range(shapedirs.shape[2])),
        attribution="MANO (Romero, Tzionas, Black 2017), Max Planck Institute for Intelligent Systems",
        licence=MANO_LICENCE,
    )


def imported_mano_path(side: str) -> Path:
    """Where the converted model for `side` is kept in the user's data directory."""
    return user_data_dir() / "hands" / f"mano_{side}.npz"


def import_mano(pkl_path: str | Path, side: str | None = None) -> Path:
    """Convert a user's MANO_RIGHT.pkl / MANO_LEFT.pkl once into the user's data directory.

    Returns the path of the written .npz. `side` defaults to what the file name says.
    """
    pkl_path = Path(pkl_path)
    if not pkl_path.is_file():
        raise HandModelError(f"MANO file not found: {pkl_path}")
    side = side or _side_from_filename(pkl_path)
    if side not in ("right", "left"):
        raise HandModelError(
            f"cannot tell whether {pkl_path.name} is a right or left hand; name it MANO_RIGHT.pkl or "
            "MANO_LEFT.pkl, or pass the side explicitly"
        )
    raw = read_mano_pickle(pkl_path.read_bytes())
    model = mano_dict_to_model(raw, side, source=str(pkl_path))
    return save_hand_model(imported_mano_path(side), model)

"""Importing MANO pickles: chumpy-style files load without chumpy; malicious pickles never run."""

from __future__ import annotations

import copyreg
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import HandModelError, UnsafePickleError
from engine.hand import HandModel, get_hand_model_data, load_hand_model
from engine.hand.mano_import import import_mano, imported_mano_path, read_mano_pickle
from engine.hand.procedural import build_procedural_hand


def _fake_module(name: str, **classes: type) -> types.ModuleType:
    module = types.ModuleType(name)
    for cls_name, cls in classes.items():
        cls.__module__, cls.__qualname__, cls.__name__ = name, cls_name, cls_name
        setattr(module, cls_name, cls)
    return module


class _Ch:
    """Pickles like chumpy.ch.Ch: reconstructed by class, its array in the state dict under 'x'."""

    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def __reduce__(self) -> tuple:
        return (copyreg._reconstructor, (type(self), object, None), {"x": self.x, "_dirty_vars": set()})


class _Csc:
    """Pickles like scipy.sparse.csc.csc_matrix (Python 2 era module path)."""

    def __init__(self, dense: np.ndarray) -> None:
        rows, cols = np.nonzero(dense.T)
        self.state = {
            "data": dense.T[rows, cols],
            "indices": cols,
            "indptr": np.searchsorted(rows, np.arange(dense.shape[1] + 1)),
            "_shape": dense.shape,
            "format": "csc",
            "maxprint": 50,
        }

    def __reduce__(self) -> tuple:
        return (copyreg._reconstructor, (type(self), object, None), self.state)


def chumpy_style_mano_pickle(side: str = "right") -> bytes:
    """Bytes shaped like MANO_{RIGHT,LEFT}.pkl: chumpy shapedirs, sparse J_regressor, numpy rest."""
    hand = build_procedural_hand()
    mods = {
        "chumpy": _fake_module("chumpy"),
        "chumpy.ch": _fake_module("chumpy.ch", Ch=_Ch),
        "scipy.sparse.csc": _fake_module("scipy.sparse.csc", csc_matrix=_Csc),
    }
    shapedirs = hand.shapedirs.copy()
    if side == "left":
        shapedirs[:, 0, :] *= -1  # what the real MANO_LEFT ships with (smplx issue 48)
    payload = {
        "v_template": hand.v_template,
        "f": hand.faces.astype(np.uint32),
        "weights": hand.weights,
        "J_regressor": _Csc(hand.j_regressor),
        "kintree_table": np.stack(
            [np.r_[4294967295, [0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]], np.arange(16)]
        ),
        "shapedirs": _Ch(shapedirs),
        "posedirs": hand.posedirs,
        "hands_components": np.eye(45),
        "hands_mean": np.zeros(45),
        "bs_style": "lbs",
        "bs_type": "lrotmin",
        "J": hand.rest_joints(),
    }
    saved = {k: sys.modules.get(k) for k in mods}
    sys.modules.update(mods)
    try:
        return pickle.dumps(payload, protocol=2, fix_imports=True)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def test_chumpy_style_pickle_loads_without_chumpy() -> None:
    data = chumpy_style_mano_pickle()
    assert b"chumpy.ch" in data and b"scipy.sparse.csc" in data
    raw = read_mano_pickle(data)
    hand = build_procedural_hand()
    np.testing.assert_array_equal(raw["shapedirs"], hand.shapedirs)
    np.testing.assert_allclose(raw["J_regressor"], hand.j_regressor, atol=0)
    assert raw["bs_style"] == "lbs"


def test_import_writes_npz_once_into_user_data_dir_and_poses(tmp_path: Path) -> None:
    pkl = tmp_path / "MANO_RIGHT.pkl"
    pkl.write_bytes(chumpy_style_mano_pickle())
    out = import_mano(pkl)
    assert out == imported_mano_path("right") and out.is_file()
    with np.load(out, allow_pickle=False) as npz:  # the stored file needs no pickle
        assert str(npz["format"]) == "unihand.handmodel/1"
    model = HandModel(get_hand_model_data("mano", "right"), dtype=torch.float64)
    ref = HandModel(build_procedural_hand(), dtype=torch.float64)
    pose = torch.full((1, 45), 0.2, dtype=torch.float64)
    assert model.name == "mano"
    assert torch.allclose(model(pose).vertices, ref(pose).vertices, atol=1e-6)  # float32 storage


def test_left_file_gets_the_shapedirs_sign_fix(tmp_path: Path) -> None:
    pkl = tmp_path / "MANO_LEFT.pkl"
    pkl.write_bytes(chumpy_style_mano_pickle("left"))
    left = load_hand_model(import_mano(pkl))
    assert left.side == "left"
    np.testing.assert_allclose(left.shapedirs, build_procedural_hand().shapedirs, atol=1e-7)


def test_missing_import_says_how_to_get_mano() -> None:
    with pytest.raises(HandModelError, match="import-mano"):
        get_hand_model_data("mano")


def test_side_must_be_known(tmp_path: Path) -> None:
    pkl = tmp_path / "hand.pkl"
    pkl.write_bytes(chumpy_style_mano_pickle())
    with pytest.raises(HandModelError, match="right or left"):
        import_mano(pkl)
    assert import_mano(pkl, side="right").is_file()


class _Exploit:
    def __init__(self, func: object, arg: object) -> None:
        self.func, self.arg = func, arg

    def __reduce__(self) -> tuple:
        return (self.func, (self.arg,))


@pytest.mark.parametrize(
    "make",
    [
        lambda marker: _Exploit(__import__("os").system, f"touch {marker}"),
        lambda marker: _Exploit(eval, f"open({str(marker)!r}, 'w')"),
        lambda marker: _Exploit(__import__("subprocess").call, ["touch", str(marker)]),
        lambda marker: _Exploit(Path.touch, marker),
    ],
    ids=["os.system", "eval", "subprocess", "pathlib"],
)
def test_malicious_pickle_is_refused_without_running(tmp_path: Path, make: object) -> None:
    marker = tmp_path / "pwned"
    payload = {"v_template": np.zeros((3, 3)), "evil": make(marker)}  # type: ignore[operator]
    pkl = tmp_path / "MANO_RIGHT.pkl"
    pkl.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(UnsafePickleError, match="refused to load"):
        import_mano(pkl)
    assert not marker.exists(), "the pickle's payload ran"
    assert not imported_mano_path("right").exists()


def test_reconstructor_cannot_build_arbitrary_classes(tmp_path: Path) -> None:
    class Sneaky:
        def __reduce__(self) -> tuple:
            return (copyreg._reconstructor, (Path, object, None))

    with pytest.raises(UnsafePickleError):
        read_mano_pickle(pickle.dumps({"x": Sneaky()}, protocol=2))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not a pickle at all", "not a readable MANO pickle"),
        (pickle.dumps([1, 2, 3], protocol=2), "dict of arrays"),
        (pickle.dumps({"v_template": np.zeros((778, 3))}, protocol=2), "missing"),
    ],
    ids=["garbage", "list", "incomplete"],
)
def test_corrupt_or_wrong_files_give_clear_errors(tmp_path: Path, payload: bytes, message: str) -> None:
    pkl = tmp_path / "MANO_RIGHT.pkl"
    pkl.write_bytes(payload)
    with pytest.raises(HandModelError, match=message):
        import_mano(pkl)


def test_truncated_file_is_reported(tmp_path: Path) -> None:
    pkl = tmp_path / "MANO_RIGHT.pkl"
    pkl.write_bytes(chumpy_style_mano_pickle()[:5000])
    with pytest.raises(HandModelError, match="not a readable MANO pickle"):
        import_mano(pkl)


def test_body_model_is_recognised_as_wrong(tmp_path: Path) -> None:
    hand = build_procedural_hand()
    payload = {
        "v_template": hand.v_template,
        "f": hand.faces,
        "weights": np.ones((hand.num_vertices, 24)) / 24,
        "J_regressor": np.ones((24, hand.num_vertices)),
        "kintree_table": np.zeros((2, 24), dtype=np.int64),
        "shapedirs": hand.shapedirs,
        "posedirs": np.zeros((hand.num_vertices, 3, 207)),
    }
    pkl = tmp_path / "MANO_RIGHT.pkl"
    pkl.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(HandModelError, match="SMPL"):
        import_mano(pkl)

"""The hand-model .npz format: round trips, validation, no pickles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.errors import HandModelError
from engine.hand import get_hand_model_data, load_hand_model, save_hand_model
from engine.hand.model_file import HandModelData
from engine.hand.procedural import build_procedural_hand


def test_round_trip(tmp_path: Path) -> None:
    data = build_procedural_hand()
    loaded = load_hand_model(save_hand_model(tmp_path / "hand.npz", data))
    assert loaded.name == "procedural" and loaded.side == "right"
    assert loaded.shape_names == data.shape_names
    np.testing.assert_array_equal(loaded.faces, data.faces)
    np.testing.assert_allclose(loaded.v_template, data.v_template, atol=1e-7)  # stored as float32
    assert not list(tmp_path.glob("*.tmp")), "temporary file left behind"


def test_failed_write_leaves_the_old_file_untouched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_hand_model(tmp_path / "hand.npz", build_procedural_hand())
    before = path.read_bytes()

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError, match="No space"):
        save_hand_model(path, build_procedural_hand())
    assert path.read_bytes() == before
    assert not list(tmp_path.glob("*.tmp"))


def _corrupt(data: HandModelData, **changes: object) -> None:
    data.with_changes(**changes)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"side": "middle"}, "side"),
        ({"v_template": np.zeros((10, 2))}, "v_template"),
        ({"weights": np.ones((3, 16))}, "weights"),
        ({"tip_vertex_ids": np.array([0, 1, 2, 3, 10**6])}, "tip_vertex_ids"),
        ({"tip_vertex_ids": np.array([0.5, 1, 2, 3, 4])}, "integer"),
        ({"posedirs": np.full((870, 3, 135), np.nan)}, "NaN"),
        ({"v_template": build_procedural_hand().v_template * 1000}, "metres"),
    ],
    ids=["side", "v_template", "weights", "tip_range", "tip_dtype", "nan", "millimetres"],
)
def test_validation_names_the_problem(changes: dict, message: str) -> None:
    with pytest.raises(HandModelError, match=message):
        _corrupt(build_procedural_hand(), **changes)


def test_weights_must_sum_to_one() -> None:
    data = build_procedural_hand()
    with pytest.raises(HandModelError, match="sum to 1"):
        data.with_changes(weights=data.weights * 0.5)


def test_loading_refuses_pickles_and_wrong_formats(tmp_path: Path) -> None:
    evil = tmp_path / "evil.npz"
    np.savez(evil, format=np.array("unihand.handmodel/1"), v_template=np.array([object()], dtype=object))
    with pytest.raises(HandModelError, match="pickled objects"):
        load_hand_model(evil)
    other = tmp_path / "other.npz"
    np.savez(other, format=np.array("something/2"))
    with pytest.raises(HandModelError, match=r"expected 'unihand\.handmodel/1'"):
        load_hand_model(other)
    text = tmp_path / "text.npz"
    text.write_text("hello")
    with pytest.raises(HandModelError, match="not a readable"):
        load_hand_model(text)
    with pytest.raises(HandModelError, match="not found"):
        load_hand_model(tmp_path / "missing.npz")


def test_registry_knows_the_models_and_rejects_others(tmp_path: Path) -> None:
    assert get_hand_model_data("default").side == "right"
    assert get_hand_model_data("procedural", "left").side == "left"
    path = save_hand_model(tmp_path / "mine.npz", build_procedural_hand())
    assert get_hand_model_data(str(path)).name == "procedural"
    with pytest.raises(HandModelError, match="unknown hand model"):
        get_hand_model_data("nonsense")
    with pytest.raises(HandModelError, match="side"):
        get_hand_model_data("default", "middle")

"""The fitted real corpus: capture files in, object-level splits, fitted corpus file round trip, and
the training-data builder reading it (val windows only from val sequences)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.data.build import DataBuildConfig, build_corpus
from engine.data.real_corpus import (
    FITTED_CORPUS_FORMAT,
    fit_capture,
    iter_fitted_sequences,
    load_capture_file,
    load_fitted_corpus,
    save_fitted_corpus,
)
from engine.errors import FileFormatError
from engine.hand.mirror import mirror_points
from tests.engine.test_fitting import known_motion


@pytest.fixture(scope="module")
def capture_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ARCTIC-layout file: two objects, a left and a right track each, 40 frames per track."""
    tracks, names, hands = [], [], []
    for i, obj in enumerate(("mixer", "laptop")):
        for side in ("left", "right"):
            kp = known_motion(40, seed=10 + i)["keypoints"]
            tracks.append(mirror_points(kp) if side == "left" else kp)
            names.append(f"s01_{obj}_use_01_{side}")
            hands.append(side)
    path = tmp_path_factory.mktemp("capture") / "arctic.npz"
    np.savez(
        path,
        seq_names=np.array(names),
        lengths=np.array([40] * 4),
        offsets=np.arange(4) * 40,
        joints=np.concatenate(tracks).astype(np.float32),
        fps=np.float32(30.0),
        handedness=np.array(hands),
    )
    return path


def test_capture_files_split_by_object(capture_file: Path) -> None:
    sequences = load_capture_file(capture_file)
    assert [s.object for s in sequences] == ["mixer", "mixer", "laptop", "laptop"]
    assert [s.split for s in sequences] == ["val", "val", "train", "train"]
    assert sequences[0].handedness == "left" and sequences[0].joints.shape == (40, 21, 3)


def test_fitted_corpus_round_trip_and_builder(capture_file: Path, tmp_path: Path) -> None:
    fitted = fit_capture(load_capture_file(capture_file))
    for seq in fitted:
        assert seq.motion.handedness == "right"  # left tracks are mirrored in
        assert np.nanmean(seq.errors) < 0.0015
    path = save_fitted_corpus(tmp_path / "arctic.npz", fitted)
    loaded = load_fitted_corpus(path)
    assert [s.name for s in loaded] == [s.name for s in fitted]
    np.testing.assert_array_equal(loaded[1].motion.hand_pose, fitted[1].motion.hand_pose)
    names = {
        split: [n for n, s, _ in iter_fitted_sequences(path) if s == split] for split in ("train", "val")
    }
    assert all("mixer" in n for n in names["val"]) and all("laptop" in n for n in names["train"])

    config = DataBuildConfig(
        out_dir=str(tmp_path / "corpus"), synthetic_sequences=0, real_path=str(path), window_length=30,
        window_stride=10, window_min_length=30, shard_size=8,
    )  # fmt: skip
    summary = build_corpus(config, progress=False)
    assert summary.train_sequences == 2 and summary.val_sequences == 2
    assert summary.train_windows > 0 and summary.val_windows > 0


def test_bad_corpus_files_are_refused(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", format=np.array("something/1"))
    with pytest.raises(FileFormatError, match=FITTED_CORPUS_FORMAT):
        load_fitted_corpus(tmp_path / "x.npz")
    (tmp_path / "y.npz").write_bytes(b"not a zip")
    with pytest.raises(FileFormatError, match=r"not an \.npz capture file"):
        load_capture_file(tmp_path / "y.npz")

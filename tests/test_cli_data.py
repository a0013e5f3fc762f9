"""`python main.py data build`: a tiny corpus end to end, then its shards load."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import main as cli
from engine.data.build import DataBuildConfig, DataBuildError, build_corpus, load_build_config
from engine.data.shards import ShardDataset, ShardReader
from tests.engine.test_windows import world_motion

REPO = Path(__file__).resolve().parent.parent

TINY_TOML = """
synthetic_sequences = 3
synthetic_frames = 90
window_length = 60
window_stride = 30
window_min_length = 30
shard_size = 2
mirror_prob = 0.5

[masks]
gap_length = [5, 20]
"""


def test_data_build_command_writes_loadable_shards(tmp_path: Path) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TOML)
    out = tmp_path / "corpus"
    proc = subprocess.run(
        [sys.executable, str(REPO / "main.py"), "data", "build", "--config", str(config), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert "train" in proc.stdout and "val" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    train, val = ShardReader(out / "train", verify=True), ShardReader(out / "val", verify=True)
    assert len(train) == summary["train_windows"] > 0 and len(val) == summary["val_windows"] > 0
    assert train.manifest["config_hash"] == summary["config_hash"] == val.manifest["config_hash"]
    assert train.manifest["config"]["masks"]["gap_length"] == [5, 20]
    window = ShardDataset(out / "train")[0]
    assert window["kp3d"].shape == (60, 21, 3) and window["kp2d_mask"].shape == (60, 21)
    assert not (window["kp2d_mask"] & ~window["visible"]).any()
    train_names = {s["name"] for s in train.manifest["meta"]["sequences"]}
    val_names = {s["name"] for s in val.manifest["meta"]["sequences"]}
    assert train_names and val_names and not train_names & val_names

    # The same config writes the same shards, bit for bit (in-process this time).
    again = tmp_path / "again"
    assert cli.main(["data", "build", "--config", str(config), "--out", str(again)]) == 0
    for split in ("train", "val"):
        a, b = ShardReader(out / split), ShardReader(again / split)
        batch_a, batch_b = a.read_batch(range(len(a))), b.read_batch(range(len(b)))
        for key in batch_a:
            np.testing.assert_array_equal(batch_a[key], batch_b[key], err_msg=key)


def test_real_sequences_never_mix_splits(tmp_path: Path) -> None:
    real = [
        ("a", "train", world_motion(70, seed=1)),
        ("b", "val", world_motion(70, seed=2)),
        ("c", "train", world_motion(70, seed=3, side="left")),
    ]
    config = DataBuildConfig(
        out_dir=str(tmp_path / "c"),
        synthetic_sequences=0,
        window_length=60,
        window_stride=30,
        window_min_length=30,
    )
    summary = build_corpus(config, real_sequences=real, progress=False)
    train, val = ShardReader(tmp_path / "c" / "train"), ShardReader(tmp_path / "c" / "val")
    assert [s["name"] for s in train.manifest["meta"]["sequences"]] == ["real/a", "real/c"]
    assert [s["name"] for s in val.manifest["meta"]["sequences"]] == ["real/b"]
    assert summary.train_windows == 4 and summary.val_windows == 2
    assert set(train.read_batch(range(len(train)))["sequence"].tolist()) == {0, 1}
    with pytest.raises(DataBuildError, match="split"):
        build_corpus(config, real_sequences=[("x", "test", world_motion(70))], progress=False)


def test_bad_configs_are_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("synthetic_sequence = 3\n")
    assert cli.main(["data", "build", "--config", str(bad)]) == cli.EXIT_USER_ERROR
    assert "unknown keys ['synthetic_sequence']" in capsys.readouterr().err
    assert cli.main(["data", "build", "--config", str(tmp_path / "none.json")]) == cli.EXIT_USER_ERROR
    assert "no such config file" in capsys.readouterr().err
    (tmp_path / "m.json").write_text(json.dumps({"masks": {"kp2d": {"sometimes": 1}}}))
    with pytest.raises(DataBuildError, match="unknown patterns"):
        load_build_config(tmp_path / "m.json")
    assert load_build_config(_write(tmp_path / "ok.json", {"seed": 4})).seed == 4


def _write(path: Path, values: dict[str, object]) -> Path:
    path.write_text(json.dumps(values))
    return path

"""Training end to end on a tiny real corpus: both stages, resume, and two CPU processes under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from engine.data.shards import ShardDataset
from engine.model.checkpoint import load_checkpoint
from engine.model.unihand import UniHand, condition_inputs
from engine.train.config import TrainConfig, TrainConfigError, load_train_config
from engine.train.trainer import TrainError, train
from tests.conftest import REPO_ROOT
from tests.engine.model_fixtures import TINY, build_tiny_corpus

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_corpus(tmp_path_factory.mktemp("corpus"))


def _config(corpus: Path, out: Path, steps: int = 3) -> TrainConfig:
    return TrainConfig(
        data=str(corpus), out=str(out), steps=steps, batch_size=4, warmup=2, val_every=2, checkpoint_every=2,
        log_every=1, threads=1, model=TINY,
    )  # fmt: skip


def test_both_stages_train_save_and_load(corpus: Path, tmp_path: Path) -> None:
    config = _config(corpus, tmp_path / "run")
    vae = train("vae", config, progress=False)
    den = train("denoiser", config, progress=False)
    model = UniHand.load(vae, den)
    assert model.config.position_center != TINY.position_center  # measured on the data
    _, _, info = load_checkpoint(den, "denoiser")
    assert info["steps"] == 3 and info["history"][-1]["val"]["loss"] > 0
    assert (tmp_path / "run" / "tb" / "vae").is_dir()
    assert json.loads((tmp_path / "run" / "vae_config.json").read_text())["steps"] == 3


def test_same_seed_same_weights_and_resume_continues(corpus: Path, tmp_path: Path) -> None:
    a = train("vae", _config(corpus, tmp_path / "a"), progress=False)
    b = train("vae", _config(corpus, tmp_path / "b"), progress=False)
    wa, wb = load_checkpoint(a, "vae")[1], load_checkpoint(b, "vae")[1]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # Resuming a finished 3-step run with 5 steps runs steps 4 and 5 only.
    c = train("vae", _config(corpus, tmp_path / "a", steps=5), resume=True, progress=False)
    assert load_checkpoint(c, "vae")[2]["steps"] == 5


def test_ablation_without_condition_encoders_trains_its_mlp_and_loads(corpus: Path, tmp_path: Path) -> None:
    """Paper Table 4's "w/o condition encoders": the denoiser reads raw condition features through
    its own MLP, trained with it; the VAE (and its unused condition encoders) stays as trained."""
    config = _config(corpus, tmp_path / "run")
    vae = train("vae", config, progress=False)
    den = train("denoiser", config.replace(condition_encoder="mlp"), progress=False)
    model = UniHand.load(vae, den)
    assert model.config.condition_encoder == "mlp"
    untrained = UniHand(model.config)
    moved = [
        not torch.equal(p, untrained.denoiser.state_dict()[k])
        for k, p in model.denoiser.state_dict().items()
        if k.startswith("condition_mlp.kp3d")
    ]
    assert moved and all(moved)  # the MLP was trained (seeded init, then 3 steps)
    vae_state = load_checkpoint(vae, "vae")[1]
    assert all(torch.equal(model.vae.state_dict()[k], v) for k, v in vae_state.items())
    # The conditions come from the MLP, not from the VAE's condition encoders.
    with torch.no_grad():
        for p in model.vae.condition_encoders.parameters():
            p.add_(1.0)
    batch = next(iter(DataLoader(ShardDataset(corpus / "val", seed=0), batch_size=4)))
    inputs = condition_inputs(batch, model.config)
    latents = model.encode_conditions(batch).latents
    assert inputs and set(latents) == set(inputs)
    for m, (feats, _) in inputs.items():
        assert torch.equal(latents[m], model.denoiser.condition_mlp[m](feats))
    with pytest.raises(TrainError, match="condition_encoder"):
        train("denoiser", config.replace(condition_encoder="cnn"), progress=False)


@pytest.mark.parametrize("path", sorted((REPO_ROOT / "configs").rglob("*.toml")), ids=lambda p: p.stem)
def test_shipped_training_configs_load(path: Path) -> None:
    load_train_config(path)


def test_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="data build"):
        train("vae", TrainConfig(data=str(tmp_path / "none"), out=str(tmp_path / "o")), progress=False)
    bad = tmp_path / "bad.toml"
    bad.write_text("stepz = 3\n")
    with pytest.raises(TrainConfigError, match="unknown keys"):
        load_train_config(bad)


def test_two_processes_under_torchrun_with_gloo(corpus: Path, tmp_path: Path) -> None:
    config = tmp_path / "ddp.json"
    values = _config(corpus, tmp_path / "ddp", steps=2).to_dict()
    config.write_text(json.dumps(values))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
        str(REPO_ROOT / "main.py"), "train", "vae", "--config", str(config),
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _, _, info = load_checkpoint(tmp_path / "ddp" / "vae.safetensors", "vae")
    assert info["world_size"] == 2 and info["steps"] == 2


def test_vision_stage_trains_resumes_and_loads_only_into_its_model(corpus: Path, tmp_path: Path) -> None:
    from engine.data.vision_renders import RenderConfig, build_renders
    from engine.model.checkpoint import CheckpointError
    from engine.model.perceptron import load_vision

    base = _config(corpus, tmp_path / "base")
    vae, den = train("vae", base, progress=False), train("denoiser", base, progress=False)
    renders = tmp_path / "renders"
    rc = RenderConfig(width=128, height=72)
    meta = build_renders(corpus / "train", renders / "train", 4, rc, progress=False)
    build_renders(corpus / "val", renders / "val", 1, rc, progress=False)
    assert meta["format"] == "unihand.renders/1" and len(meta["windows"]) == 4
    tiny_perceptron = {"dim": 16, "heads": 2, "ff": 32, "layers": 1, "hand_tokens": 2}
    config = base.replace(
        out=str(tmp_path / "vision"), vision_data=str(renders), batch_size=2,
        vae_checkpoint=str(vae), denoiser_checkpoint=str(den), vision=tiny_perceptron,
    )  # fmt: skip
    path = train("vision", config, progress=False)
    model = UniHand.load(vae, den)
    before = {k: v.clone() for k, v in model.denoiser.state_dict().items()}
    perceptron = load_vision(path, model)
    assert perceptron.config.vision_dim == TINY.vision_dim and perceptron.config.rope == "3d"
    assert any(not torch.equal(before[k], v) for k, v in model.denoiser.state_dict().items())  # fine-tuned
    info = load_checkpoint(path, "vision")[2]
    assert info["vision_config"]["dim"] == 16 and "pose_aux_cm" in info["history"][-1]["train"]
    resumed = train("vision", config.replace(steps=4), resume=True, progress=False)
    assert load_checkpoint(resumed, "vision")[2]["steps"] == 4
    # The shipped model's config is not the tiny one: loading says so instead of mixing weights.
    from engine.editing.infill import DEFAULT_DENOISER, DEFAULT_VAE

    if DEFAULT_VAE.exists():
        with pytest.raises(CheckpointError, match="model config differs"):
            load_vision(path, UniHand.load(DEFAULT_VAE, DEFAULT_DENOISER))
    with pytest.raises(CheckpointError, match="'vision' checkpoint"):
        load_checkpoint(path, "denoiser")


def test_gap_refiner_stage_trains_resumes_and_loads(corpus: Path, tmp_path: Path) -> None:
    from engine.model.checkpoint import CheckpointError
    from engine.model.gap_refiner import GapRefinerConfig, load_gap_refiner

    tiny = {"dim": 16, "heads": 2, "ff": 32, "layers": 1}
    config = _config(corpus, tmp_path / "gap").replace(gap=tiny, gap_sources="synthetic")
    path = train("gap", config, progress=False)
    refiner = load_gap_refiner(path)
    assert refiner.config == GapRefinerConfig(**tiny)
    assert refiner.out.weight.abs().sum() > 0  # trained away from the zero it starts as
    info = load_checkpoint(path, "gap", config_class=GapRefinerConfig)[2]
    assert info["steps"] == 3 and info["gap_sources"] == "synthetic"
    assert info["history"][-1]["val"]["prior_mm"] > 0
    resumed = train("gap", config.replace(steps=5), resume=True, progress=False)
    assert load_checkpoint(resumed, "gap", config_class=GapRefinerConfig)[2]["steps"] == 5
    with pytest.raises(CheckpointError, match="expected 'vae'"):
        load_checkpoint(path, "vae")
    # The tiny corpus is synthetic only: asking for real windows says so.
    with pytest.raises(TrainError, match="no full-length 'real'"):
        train("gap", config.replace(gap_sources="real"), progress=False)

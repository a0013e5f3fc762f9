#!/usr/bin/env bash
# The shipped model from scratch, one command (assets/model/MODEL_CARD.md records the run):
#   bash scripts/train_default_model.sh
# Needs ../shared/data (research captures, never committed). About 2.2 h on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
python scripts/fit_real_corpus.py
python main.py data build --synthetic 400 --real outputs/real_fits/grab_s1.npz,outputs/real_fits/arctic.npz --out outputs/corpus
python main.py train vae --config configs/train_vae.toml
python main.py train denoiser --config configs/train_denoiser.toml
python main.py train gap --config configs/train_gap.toml
mkdir -p assets/model
cp runs/default/vae.safetensors assets/model/unihand_vae.safetensors
cp runs/default/denoiser.safetensors assets/model/unihand_denoiser.safetensors
cp runs/default/gap.safetensors assets/model/unihand_gap.safetensors
python main.py eval all --windows 60 --json docs/results/model_eval.json

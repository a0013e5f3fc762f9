#!/usr/bin/env bash
# The shipped vision checkpoint and its ablations from scratch, one command (MODEL_CARD.md records
# the run): bash scripts/train_vision_model.sh
# Needs the training shards (`bash scripts/train_default_model.sh` builds them) and the shipped
# VAE and denoiser in assets/model. About 1.5 h on 2 CPU cores (the four stage-1 runs are 2,000
# steps each; run them on separate machines or GPUs to save time).
set -euo pipefail
cd "$(dirname "$0")/.."
python main.py data renders --train-windows 240 --val-windows 40 --out outputs/renders
# Stage 1 and the paper's Table 4 rows that apply: 3D RoPE, 1D RoPE, average pooling, no vision tokens.
for config in perceptron_3d rope1d average no_vision; do
  python main.py train vision --config "configs/vision/${config}.toml"
done
# Stage 2: the shipped checkpoint (perceptron from stage 1, the denoiser's cross-attention only).
python main.py train vision --config configs/train_vision.toml
cp runs/vision/vision.safetensors assets/model/unihand_vision.safetensors
python benchmarks/eval_vision.py --windows 40 --json docs/results/vision_ablation.json \
  --model shipped=shipped --model shipped_vision=assets/model/unihand_vision.safetensors \
  --model perceptron_3d_rope=runs/vision_3d/vision.safetensors \
  --model perceptron_1d_rope=runs/vision_rope1d/vision.safetensors \
  --model average_pooling=runs/vision_average/vision.safetensors \
  --model no_vision_tokens=runs/vision_no_vision/vision.safetensors
python scripts/vision_figures.py --runs runs/vision_3d runs/vision_rope1d runs/vision_average runs/vision_no_vision runs/vision

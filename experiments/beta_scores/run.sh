#!/usr/bin/env bash
# Trains beta = 1 and beta = 4 together (one vmapped population) on dSprites,
# scores both with the full metric suite, and writes README.md here.
# Resumable: run it again after an interruption and it continues.
#   bash experiments/beta_scores/run.sh [STEPS] [WORKDIR] [METRICS]
# METRICS (comma-separated, default all) lets a CPU run skip the BetaVAE and
# FactorVAE scores, which encode about a million images each.
set -euo pipefail
cd "$(dirname "$0")/../.."
steps=${1:-20000}
workdir=${2:-runs/beta_scores}
metrics=${3:-}
start=$(date +%s)
python -m betavae_jax.main --config=configs/dsprites.py \
  --workdir="$workdir" \
  --config.population.betas='(1.0,4.0)' \
  --config.train.num_train_steps="$steps" \
  --config.data.eval_fraction=0.1 \
  --config.train.eval_every_steps=1000 \
  --config.train.eval_num_examples=2048 \
  --config.train.plot_every_steps="$steps" \
  --config.train.checkpoint_every_steps=1000
train_s=$(( $(date +%s) - start ))
python -m betavae_jax.evaluate --workdir="$workdir" --metrics="$metrics"
python experiments/beta_scores/report.py --workdir="$workdir" \
  --train_seconds="$train_s" --out=experiments/beta_scores/README.md

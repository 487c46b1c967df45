#!/usr/bin/env bash
# Trains the zoo models one after another (one at a time: training uses every core)
# and copies each finished model into models/weights/<model>-<dataset>/.
# Interrupted runs resume from their last epoch checkpoint when the script is rerun.
#
#   scripts/train-zoo.sh [data-dir]        (default data dir: ../shared/data)
#
# Environment: WORK (checkpoint folder, default robench-train), BACKEND (default wasm).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR="${1:-../shared/data}"
WORK="${WORK:-robench-train}"
BACKEND="${BACKEND:-wasm}"

# model dataset epochs, in priority order.
JOBS=(
  "hebbian fashion-mnist 10"
  "baseline fashion-mnist 12"
  "hebbian mnist 5"
  "baseline mnist 5"
  "baseline cifar10 30"
  "hebbian cifar10 30"
)

for job in "${JOBS[@]}"; do
  read -r model dataset epochs <<<"$job"
  dest="models/weights/${model}-${dataset}"
  if [[ -f "$dest/manifest.json" ]]; then
    echo "skip ${model}-${dataset}: weights already in $dest" >&2
    continue
  fi
  out="$WORK/${model}-${dataset}"
  npx tsx src/cli/main.ts train --model "$model" --dataset "$dataset" --epochs "$epochs" --seed 0 \
    --backend "$BACKEND" --data-dir "$DATA_DIR" --out "$out" --resume
  mkdir -p "$dest"
  cp "$out/model.json" "$out/weights.bin" "$out/manifest.json" "$dest/"
  echo "shipped ${model}-${dataset} to $dest" >&2
done

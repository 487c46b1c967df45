#!/usr/bin/env bash
# Guards the shipped zoo's robustness: evaluates it on the bundled samples (offline, a few
# minutes on 2 cores) and fails when a point dropped significantly below baselines/.
#
#   scripts/check-zoo.sh            compare with the committed baselines (exit 1 on a regression)
#   scripts/check-zoo.sh --update   rewrite the baselines after an intended change (new weights)
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

status=0
# On wasm, as the baselines were measured: check counts a change of backend as a mismatch.
# dataset, attack, eps grid: PGD-20 up to where both models are near 0%, Gaussian noise.
while read -r dataset attack eps; do
  name="$dataset-$attack"
  ./bin/robench run --model baseline,hebbian --dataset "$dataset" --attack "$attack" --eps "$eps" \
    --samples 1000 --seed 0 --backend wasm --offline --format json --out "$out/$name"
  ./bin/robench check --baseline "baselines/zoo-$name.json" "$out/$name" "$@" || status=$?
done <<'GRID'
fashion-mnist pgd 0,0.01,0.025,0.05
fashion-mnist gaussian 0,0.1,0.2
cifar10 pgd 0,1/255,2/255,4/255
cifar10 gaussian 0,0.05,0.1
GRID
exit "$status"

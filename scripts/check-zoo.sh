#!/usr/bin/env bash
# Guards the shipped zoo's robustness: evaluates it on the bundled samples (offline, a few
# minutes on 2 cores) and fails when a point dropped significantly below baselines/zoo.json.
#
#   scripts/check-zoo.sh            compare with the committed baseline (exit 1 on a regression)
#   scripts/check-zoo.sh --update   rewrite the baseline after an intended change (new weights)
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
./bin/robench run --model baseline,hebbian --dataset fashion-mnist --attack pgd,gaussian \
  --eps 0,0.05,0.1 --steps 10 --samples 1000 --seed 0 --offline --format json --out "$out"
./bin/robench check --baseline baselines/zoo.json "$out" "$@"

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
run() { ./bin/robench run --model baseline,hebbian --dataset fashion-mnist --samples 1000 --seed 0 --offline --format json "$@"; }

status=0
run --attack pgd --eps 0,0.01,0.025,0.05 --steps 20 --out "$out/pgd"
./bin/robench check --baseline baselines/zoo-pgd.json "$out/pgd" "$@" || status=$?
run --attack gaussian --eps 0,0.1,0.2 --out "$out/gaussian"
./bin/robench check --baseline baselines/zoo-gaussian.json "$out/gaussian" "$@" || status=$?
exit "$status"

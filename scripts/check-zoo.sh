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
# models, dataset, attack, eps grid, samples: PGD-20 up to where both models are near 0%, Gaussian
# noise; similarity matching solves its dynamics at every forward pass, so it is guarded on fewer;
# the adversarially trained baselines up to MNIST's standard 0.3 and CIFAR-10's 8/255, where many
# samples survive every step.
while read -r models dataset attack eps samples; do
  name="$dataset-$attack"
  [ "$models" = baseline,hebbian ] || name="$name-${models%%,*}"
  ./bin/robench run --model "$models" --dataset "$dataset" --attack "$attack" --eps "$eps" \
    --samples "$samples" --seed 0 --backend wasm --offline --format json --out "$out/$name"
  ./bin/robench check --baseline "baselines/zoo-$name.json" "$out/$name" "$@" || status=$?
done <<'GRID'
baseline,hebbian fashion-mnist pgd 0,0.01,0.025,0.05 1000
baseline,hebbian fashion-mnist gaussian 0,0.1,0.2 1000
baseline,hebbian cifar10 pgd 0,1/255,2/255,4/255 1000
baseline,hebbian cifar10 gaussian 0,0.05,0.1 1000
baseline-deep,hebbian-deep cifar10 pgd 0,1/255,2/255,4/255 1000
baseline-deep,hebbian-deep cifar10 gaussian 0,0.05,0.1 1000
hebbian-deep-alpha0,hebbian-deep-first cifar10 pgd 0,1/255,2/255,4/255 1000
hebbian-deep-alpha0,hebbian-deep-first cifar10 gaussian 0,0.05,0.1 1000
ekdaa,ekdaa-sign,ekdaa-backprop cifar10 pgd 0,1/255,2/255,4/255 500
ekdaa,ekdaa-sign,ekdaa-backprop,ekdaa-release-bp,ekdaa-frozen,ekdaa-backprop-frozen fashion-mnist pgd 0,0.01,0.025,0.05 500
ekdaa-sign-frozen fashion-mnist pgd 0,0.01,0.025,0.05 500
similarity-matching,baseline mnist pgd 0,0.05,0.1,0.2,0.3 200
baseline-at mnist pgd 0,0.1,0.2,0.3 500
baseline-at cifar10 pgd 0,2/255,4/255,8/255 500
hebbian-at cifar10 pgd 0,2/255,4/255,8/255 500
GRID
exit "$status"

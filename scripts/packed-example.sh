#!/usr/bin/env bash
# The package as a user installs it: `npm pack` builds the tarball (prepack compiles dist/), an
# empty project outside the repository installs it with tfjs, TypeScript and tsx, and runs
# examples/api-and-plugins there: the README's benchmark() example as it stands (readme.ts),
# benchmark() on a model built in code, and a TypeScript plugin of each kind.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)"
project="$work/project"
mkdir "$project"
cp -r examples/api-and-plugins/plugins examples/api-and-plugins/*.ts examples/api-and-plugins/tsconfig.json examples/api-and-plugins/robench.config.json examples/api-and-plugins/package.json "$project/"
version() { node -p "require('./node_modules/$1/package.json').version"; }
deps=("robench@file:$tarball" "@tensorflow/tfjs@$(version @tensorflow/tfjs)" "typescript@$(version typescript)" "tsx@$(version tsx)" "@types/node@$(version @types/node)")
cd "$project"
# The repository's own dependency on robench (file:../..) is what this replaces.
npm pkg delete dependencies.robench
npm install --no-audit --no-fund --prefer-offline "${deps[@]}"
npm test

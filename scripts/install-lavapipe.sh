#!/usr/bin/env bash
# Installs Mesa's CPU Vulkan driver (lavapipe) so the WebGPU backend can be tested without a
# GPU. Dawn (the `webgpu` npm package) rejects the lavapipe of Mesa 22 that Debian bookworm
# ships, and accepts Mesa 25, which bookworm-backports carries. Idempotent; run as root.
set -euo pipefail

MIN_MESA_MAJOR=25

note() { echo "install-lavapipe: $*" >&2; }

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
  note "apt is not available here; skipping. Install Mesa >= ${MIN_MESA_MAJOR} Vulkan drivers (lavapipe) and the Vulkan loader with your package manager to test --backend webgpu without a GPU."
  exit 0
fi

installed_major() {
  dpkg-query -W -f='${db:Status-Abbrev} ${Version}\n' "$1" 2>/dev/null \
    | awk '$1 == "ii" { split($2, v, /[.:]/); print (index($2, ":") ? v[2] : v[1]); exit }'
}

major="$(installed_major mesa-vulkan-drivers || true)"
if [[ -n "$major" && "$major" -ge "$MIN_MESA_MAJOR" ]] && dpkg-query -W -f='${db:Status-Abbrev}' libvulkan1 2>/dev/null | grep -q '^ii'; then
  note "mesa-vulkan-drivers ${major}.x and libvulkan1 are already installed"
  exit 0
fi

SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    note "must run as root (or with sudo available) to install packages"
    exit 1
  fi
fi

codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
target=()
if [[ "$codename" == "bookworm" ]]; then
  if ! grep -rqsE '(^|[[:space:]])bookworm-backports([[:space:]]|$)' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    note "adding bookworm-backports to the apt sources"
    echo 'deb http://deb.debian.org/debian bookworm-backports main' \
      | "${SUDO[@]}" tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
  fi
  target=(-t bookworm-backports)
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${target[@]}" mesa-vulkan-drivers libvulkan1

major="$(installed_major mesa-vulkan-drivers || true)"
if [[ -z "$major" || "$major" -lt "$MIN_MESA_MAJOR" ]]; then
  note "installed mesa-vulkan-drivers is ${major:-missing}.x; Dawn needs Mesa >= ${MIN_MESA_MAJOR} for lavapipe (Debian bookworm: from bookworm-backports)"
  exit 1
fi
note "installed mesa-vulkan-drivers ${major}.x (lavapipe) and libvulkan1"

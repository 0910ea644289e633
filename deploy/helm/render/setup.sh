#!/usr/bin/env bash
# Installs what the chart renderer (deploy/helm/render/main.go) is built with: Debian's Go
# toolchain and the Go sources of sprig and sigs.k8s.io/yaml, the libraries Helm renders with.
#
# Source it and call setup_helm_render (what ./dev's set-up does), or run it directly.
# Nothing is installed when everything is already there.

HELM_RENDER_APT_PACKAGES=(golang-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev)
HELM_RENDER_GOPATH=/usr/share/gocode

helm_render_missing() {
  command -v go >/dev/null 2>&1 || return 0
  [ -d "$HELM_RENDER_GOPATH/src/github.com/Masterminds/sprig" ] || return 0
  [ -d "$HELM_RENDER_GOPATH/src/sigs.k8s.io/yaml" ] || return 0
  return 1
}

setup_helm_render() {
  helm_render_missing || return 0
  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "need root to install: ${HELM_RENDER_APT_PACKAGES[*]}" >&2; return 1; }
    sudo=(sudo)
  fi
  printf '\033[1m==> %s\033[0m\n' "installing Go and the Helm template libraries from Debian" >&2
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${HELM_RENDER_APT_PACKAGES[@]}" >/dev/null
  if helm_render_missing; then
    echo "the chart renderer's packages are still missing after apt-get install" >&2
    return 1
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  setup_helm_render
fi

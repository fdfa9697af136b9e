#!/usr/bin/env bash
# Installs the Debian packages AttentionKit builds against (OpenBLAS, oneDNN for int8 inference, utf8proc, zlib, libpng,
# libjpeg-turbo, cairo + Pango for pictures (text through fontconfig and FreeType) with the DejaVu and
# WenQuanYi (CJK) fonts, pkg-config).
# With --browser, also Chromium (for the headless-browser test of attention reports; CI uses it).
# With --mpi, also Open MPI (libopenmpi-dev, mpirun) for data-parallel training: build with `--traits MPI`.
# Uses sudo when not run as root. Safe to run repeatedly.
set -euo pipefail
pkgs=(libopenblas-dev libdnnl-dev libutf8proc-dev zlib1g-dev libpng-dev libturbojpeg0-dev libcairo2-dev libpango1.0-dev fonts-dejavu-core fonts-wqy-microhei pkg-config curl)
for arg in "$@"; do
  case "$arg" in
    --browser) pkgs+=(chromium) ;;
    --mpi) pkgs+=(libopenmpi-dev openmpi-bin) ;;
    *) echo "install-deps.sh: unknown option '$arg' (use --browser and/or --mpi)" >&2; exit 64 ;;
  esac
done
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}"

#!/bin/sh
# Installs what daft needs on Debian 12 that is not there yet (run as root).
set -e
packages="build-essential cmake pkg-config flex bison llvm-dev clang libclang-rt-14-dev libcmocka-dev
libopenblas-dev libopenmpi-dev openmpi-bin libedit-dev graphviz python3 tmux"
missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "daft: installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

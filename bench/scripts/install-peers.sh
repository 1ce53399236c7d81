#!/usr/bin/env bash
# Installs the Python comparison peers (hnswlib, faiss) from Debian's archive.
#
# They are installed for Debian's own interpreter, /usr/bin/python3. A pyenv
# or venv python3 earlier on PATH will NOT see them, which is why the bench
# always runs /usr/bin/python3 explicitly.
#
# Idempotent: does nothing when both modules already import. Needs root (or
# sudo) for apt-get.
set -euo pipefail

PY=/usr/bin/python3

have_peers() {
	"$PY" -c 'import hnswlib, faiss, numpy' >/dev/null 2>&1
}

if [ -x "$PY" ] && have_peers; then
	echo "peers already installed: $("$PY" -c 'import faiss; print("faiss", faiss.__version__)')"
	exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	SUDO="sudo"
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq python3 python3-numpy python3-hnswlib python3-faiss

if ! have_peers; then
	echo "install-peers: $PY still cannot import hnswlib/faiss/numpy" >&2
	exit 1
fi
echo "peers installed: $("$PY" -c 'import faiss; print("faiss", faiss.__version__)')"

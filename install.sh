#!/usr/bin/env bash
# One-shot set-up of csp on a fresh machine (Python >= 3.10, pip; Debian/Ubuntu for the DFT extras).
#
#   bash install.sh          csp + the default ML relaxer (SevenNet, torch CPU) + MPI (pip mpich)
#   bash install.sh --dev    the same + test/benchmark tools + Quantum ESPRESSO (apt, when root)
#
# On a cluster with its own MPI, skip pip's mpich: CSP_NO_MPICH=1 bash install.sh
# (mpi4py then builds against the cluster's mpicc).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
dev=0
[ "${1:-}" = "--dev" ] && dev=1

# torch first, pinned: with no torch installed, `sevenn` alone would pull a several-GB CUDA build.
"$PY" -m pip install --quiet "torch==2.13.0"
extras="ml"
[ -z "${CSP_NO_MPICH:-}" ] && extras="$extras,mpi"
[ "$dev" = 1 ] && extras="$extras,test"
"$PY" -m pip install --quiet -e ".[${extras}]"

if [ "$dev" = 1 ]; then
  if ! command -v pw.x >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq quantum-espresso quantum-espresso-data >/dev/null
    else
      echo "install.sh: pw.x not found and cannot apt-get (not root): QE tests will be skipped" >&2
    fi
  fi
fi
# compile the numba kernels once (cached next to the sources)
"$PY" -c "import csp.operators.validity, csp.genome" >/dev/null
echo "csp installed: $(command -v csp)"

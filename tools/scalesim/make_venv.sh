#!/usr/bin/env bash
# Create tools/scalesim/venv with SCALE-Sim 3.0.0 (needs numpy<2), isolated from the system Python.
# Usage: tools/scalesim/make_venv.sh            (idempotent; re-run to repair)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/venv"
python="${PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "scalesim==3.0.0" "numpy<2"
"$venv/bin/python" -c "import scalesim, numpy; print('scalesim ok, numpy', numpy.__version__)"

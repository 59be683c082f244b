#!/usr/bin/env bash
# Installs the Debian packages haven needs, only when something is missing.
# pdqhash builds from source (C++ and Python headers); venv needs ensurepip.
set -euo pipefail
PY=${PY:-python3}
need=()
$PY -m venv --help >/dev/null 2>&1 && $PY -c "import ensurepip" 2>/dev/null || need+=(python3-venv)
$PY - <<'PYEOF' 2>/dev/null || need+=(python3-dev)
import os, sysconfig, sys
sys.exit(0 if os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")) else 1)
PYEOF
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
exec "$(dirname "$0")/apt-install.sh" "${need[@]}"

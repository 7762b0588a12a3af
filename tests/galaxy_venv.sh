#!/usr/bin/env bash
# Create (or reuse) the Python environment holding Galaxy's code for the tests: .venv-galaxy at the
# repository root (override with VRE_GALAXY_VENV), from the pinned tests/requirements-galaxy.txt.
#
# Idempotent: the venv carries a stamp with the sha256 of the requirements file and is rebuilt
# only when the stamp is missing or differs. Prints the venv's python on stdout, progress on stderr.
# Needs python3 with venv and access to PyPI (about a minute for a fresh venv).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VRE_GALAXY_VENV:-$ROOT/.venv-galaxy}
REQS=$ROOT/tests/requirements-galaxy.txt
STAMP=$VENV/.requirements-galaxy.sha256
PYTHON=${VRE_GALAXY_PYTHON:-python3}

want=$(sha256sum "$REQS" | cut -d' ' -f1)
if [ -x "$VENV/bin/python" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
  echo "galaxy venv up to date: $VENV" >&2
else
  echo "creating the Galaxy test venv in $VENV from $REQS" >&2
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >&2
  "$VENV/bin/pip" install -q -r "$REQS" >&2
  # The import the contract test needs; fails here, with pip's context, rather than in pytest.
  "$VENV/bin/python" -c 'import chronos, galaxy.jobs.runners.chronos' >&2
  echo "$want" >"$STAMP"
fi
echo "$VENV/bin/python"

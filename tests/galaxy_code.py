"""The Galaxy test venv (.venv-galaxy, made by tests/galaxy_venv.sh from the pinned
tests/requirements-galaxy.txt): the one place the tests that run Galaxy's own code find it.

`galaxy_python()` returns its python; without the venv it skips with the command to run, or
fails when VRE_REQUIRE_GALAXY is set (CI); a venv built from other pins fails.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
GALAXY_VENV = Path(os.environ.get("VRE_GALAXY_VENV", ROOT / ".venv-galaxy"))
GALAXY_PYTHON = GALAXY_VENV / "bin" / "python"
REQUIREMENTS = ROOT / "tests" / "requirements-galaxy.txt"


def galaxy_python() -> Path:
    how = "run tests/galaxy_venv.sh to create it (pinned in tests/requirements-galaxy.txt; about a minute)"
    if not GALAXY_PYTHON.is_file():
        if os.environ.get("VRE_REQUIRE_GALAXY"):
            pytest.fail(f"VRE_REQUIRE_GALAXY is set but the Galaxy test venv {GALAXY_VENV} is missing: {how}")
        pytest.skip(f"Galaxy's code is not installed: no {GALAXY_PYTHON}; {how}")
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = GALAXY_VENV / ".requirements-galaxy.sha256"
    have = stamp.read_text().strip() if stamp.is_file() else "none"
    if have != want:
        pytest.fail(
            f"the Galaxy test venv {GALAXY_VENV} was built from other pins than {REQUIREMENTS.name}: {how}"
        )
    return GALAXY_PYTHON


def galaxy_filters() -> ModuleType:
    """The galaxy role's filter module (roles/galaxy/filter_plugins/galaxy_conf.py), loaded from
    its file as Ansible loads it."""
    spec = importlib.util.spec_from_file_location(
        "galaxy_conf", ROOT / "roles" / "galaxy" / "filter_plugins" / "galaxy_conf.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

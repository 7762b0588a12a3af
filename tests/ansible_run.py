"""Ansible run from the tests as an operator runs it: the project's ansible.cfg, the commands of the
Python environment running pytest (the project's .venv) first on PATH, no colours. One place for
that environment and for the subprocess call, for every test that runs a playbook or an ad-hoc
command (molecule's verifiers have theirs in molecule/resources/vre_testinfra.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
# The directory of the Python running pytest: the project's .venv/bin under `./vre pytest`.
VENV_BIN = Path(sys.executable).parent


def ansible_env(
    extra: Mapping[str, str] | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a run: ``base`` (default: this process's), the toolkit's settings, ``extra``."""
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    env.update(extra or {})
    return env


def run_ansible(
    command: str,
    *args: str,
    env: Mapping[str, str] | None = None,
    base_env: Mapping[str, str] | None = None,
    timeout: int = 180,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` (``ansible-playbook`` or ``ansible``) from VENV_BIN in the project's root."""
    executable = VENV_BIN / command
    assert executable.exists(), f"no {command} next to {sys.executable}; run pytest from the project's .venv"
    return subprocess.run(
        [str(executable), *args],
        cwd=ROOT,
        env=ansible_env(env, base_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def output(proc: subprocess.CompletedProcess[str]) -> str:
    """What the run printed, both streams."""
    return proc.stdout + proc.stderr


def play_on_localhost(play: Path, values: Mapping[str, Any], *args: str) -> tuple[int, str]:
    """``ansible-playbook`` of ``play`` on localhost with ``values`` as extra variables (a YAML file
    beside the play, so lists and mappings keep their types) and this Python as its interpreter:
    (return code, output). ``args`` go to ansible-playbook (``--check``)."""
    extra = play.parent / "extra.yml"
    extra.write_text(yaml.safe_dump({"ansible_python_interpreter": sys.executable, **values}))
    proc = run_ansible("ansible-playbook", "-i", "localhost,", "-e", f"@{extra}", str(play), *args)
    return proc.returncode, output(proc)

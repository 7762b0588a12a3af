"""The toolkit's strategy (strategy_plugins/vre_linear.py): Mitogen's linear when installed, plain
linear with a warning when not, and the one ansible.cfg names."""

import configparser
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "strategy_plugins" / "vre_linear.py"

# Loads the plugin as Ansible's loader would (by path, under a name of its own) and prints the
# classes it builds on.
_PROBE = """
import importlib.util, sys
BLOCK
spec = importlib.util.spec_from_file_location("vre_linear_probe", PLUGIN)
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
print(" ".join(c.__module__ + "." + c.__name__ for c in mod.StrategyModule.__mro__))
"""


def _probe(block: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", _PROBE.replace("BLOCK", block).replace("PLUGIN", repr(str(PLUGIN)))],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
    )


def test_ansible_cfg_runs_every_play_with_vre_linear():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "ansible.cfg")
    assert cfg["defaults"]["strategy"] == "vre_linear"
    assert (ROOT / cfg["defaults"]["strategy_plugins"] / "vre_linear.py").is_file()


def test_vre_linear_is_mitogens_linear_when_mitogen_is_installed():
    proc = _probe()
    assert proc.returncode == 0, proc.stderr
    mro = proc.stdout.split()
    assert "ansible_mitogen.strategy.StrategyMixin" in mro
    assert "ansible.plugins.strategy.linear.StrategyModule" in mro
    assert "Mitogen is not importable" not in proc.stderr


def test_vre_linear_falls_back_to_plain_linear_and_says_so():
    # A controller without Mitogen: importing it fails.
    proc = _probe("sys.modules['ansible_mitogen'] = None")
    assert proc.returncode == 0, proc.stderr
    mro = proc.stdout.split()
    assert "ansible.plugins.strategy.linear.StrategyModule" in mro
    assert not any(name.startswith("ansible_mitogen") for name in mro)
    assert "Mitogen is not importable" in proc.stdout + proc.stderr
    assert "pip install -r requirements-dev.txt" in proc.stdout + proc.stderr

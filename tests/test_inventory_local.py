"""inventories/local.py follows the same contract as the cloud inventories: `ansible-inventory`
reads it, `--list` creates nothing, `provision` / `destroy` are explicit subcommands. Nothing here
creates a container (tests/test_local_provider.py does, against the Docker engine)."""

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "inventories" / "local.py"


def _env(spec: Path) -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return {**os.environ, "VRE_SPEC": str(spec), "PATH": f"{bindir}:{os.environ.get('PATH', '')}"}


def _spec(tmp_path: Path) -> Path:
    spec = tmp_path / "spec.yml"
    spec.write_text(f"cluster: nobody{uuid.uuid4().hex[:6]}\ngroups:\n  galaxy: 1\n")
    return spec


def test_ansible_inventory_reads_the_local_script(tmp_path):
    env = _env(_spec(tmp_path)) | {"ANSIBLE_LOCAL_TEMP": str(tmp_path / ".ansible-tmp")}
    exe = shutil.which("ansible-inventory", path=env["PATH"]) or "ansible-inventory"
    proc = subprocess.run(
        [exe, "-i", str(SCRIPT), "--list"], env=env, cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    inv = json.loads(proc.stdout)
    assert inv["_meta"]["hostvars"] == {}
    assert "ungrouped" in inv["all"]["children"]


def test_destroy_needs_yes_and_removes_nothing_of_others(tmp_path):
    env = _env(_spec(tmp_path))
    refused = subprocess.run(
        [sys.executable, SCRIPT, "destroy"], env=env, capture_output=True, text=True, check=False
    )
    assert refused.returncode == 2 and "--yes" in refused.stderr
    done = subprocess.run(
        [sys.executable, SCRIPT, "destroy", "--yes"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["removed"] == []


def test_a_bad_spec_is_reported(tmp_path):
    spec = tmp_path / "bad.yml"
    spec.write_text("cluster: c\ngroups:\n  mesos_slaves: 2\n")
    proc = subprocess.run(
        [sys.executable, SCRIPT, "--list"], env=_env(spec), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1
    assert "zero mesos_masters" in proc.stderr

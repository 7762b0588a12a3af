"""The galaxy role's install of the Pithos+ client (roles/galaxy/tasks/pithos_client.yml, with the
role's vars/main.yml and filters) run by Ansible on this machine into a scratch venv standing in
for Galaxy's: the wheel built from packages/vre-kamaki-pithos on the controller, installed offline,
Galaxy restarted (a handler of the same name records it); a second run changes nothing; --check
changes nothing; a venv holding another wheel gets this one again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.ansible_run import ROOT, output, run_ansible

PLAY = """
- name: Install the Pithos+ client as the galaxy role does
  hosts: localhost
  connection: local
  gather_facts: false
  vars_files:
    - {root}/roles/galaxy/vars/main.yml
  tasks:
    - name: The role's tasks
      ansible.builtin.import_tasks: {root}/roles/galaxy/tasks/pithos_client.yml
  handlers:
    - name: Restart Galaxy
      ansible.builtin.shell: echo restarted >> {restarts}
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pithos-client")
    subprocess.run([sys.executable, "-m", "venv", str(tmp / "srv" / "venv")], check=True, timeout=300)
    (tmp / "play.yml").write_text(PLAY.format(root=ROOT, restarts=tmp / "restarts"))
    extra = {
        "galaxy_venv_dir": str(tmp / "srv" / "venv"),
        # Outside the role, role_path is not defined: the path the role derives from it.
        "galaxy_pithos_client_source": str(ROOT / "packages" / "vre-kamaki-pithos"),
        "galaxy_object_store": {"type": "pithos"},
        "ansible_python_interpreter": sys.executable,
    }
    (tmp / "extra.yml").write_text(yaml.safe_dump(extra))
    return tmp


def _play(setup: Path, *args: str) -> str:
    proc = run_ansible(
        "ansible-playbook",
        "-i",
        "localhost,",
        "-e",
        f"@{setup / 'extra.yml'}",
        str(setup / "play.yml"),
        *args,
        env={"ANSIBLE_FILTER_PLUGINS": str(ROOT / "roles" / "galaxy" / "filter_plugins")},
        timeout=600,
    )
    assert proc.returncode == 0, output(proc)
    return output(proc)


def _imports(setup: Path) -> str:
    probe = "import kamaki.clients as k; from kamaki.clients import pithos, astakos; print(k.__file__)"
    return subprocess.run(
        [str(setup / "srv" / "venv" / "bin" / "python"), "-c", probe],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_installed_then_unchanged_then_check_mode_then_reinstalled(setup):
    out = _play(setup)
    assert "site-packages/kamaki/clients/__init__.py" in _imports(setup)
    assert (setup / "restarts").read_text() == "restarted\n"
    assert (setup / "srv" / "vre_kamaki_pithos-0.1.0-py3-none-any.whl").is_file()
    assert "changed=4" in out, out  # the wheel copied, installed, its stamp, the restart

    out = _play(setup)
    assert "changed=0" in out, out
    assert (setup / "restarts").read_text() == "restarted\n"

    stamp = setup / "srv" / "venv" / ".vre-kamaki-pithos.sha256"
    stamp.write_text("another wheel\n")
    _play(setup, "--check")
    assert stamp.read_text() == "another wheel\n", "--check changed the venv"
    assert (setup / "restarts").read_text() == "restarted\n"

    _play(setup)
    assert stamp.read_text() != "another wheel\n"
    assert (setup / "restarts").read_text() == "restarted\nrestarted\n"

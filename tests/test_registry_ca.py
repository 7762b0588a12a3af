"""Role registry_ca run by Ansible on this machine, the registry host being localhost too: the CA
read from the "registry host" is written for every address, a second run changes nothing, --check
on a fresh directory crashes nothing and writes nothing, a CA given as PEM is written as given, a
registry host without the CA stops the run naming the caller's variables and what to do."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.ansible_run import play_on_localhost
from vrecloud.recap import recap

ADDRESSES = ["10.9.9.9:5000", "10.9.9.9:5001"]
PLAY = """
- name: Trust the registry's CA as docker_engine does
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Trust it
      ansible.builtin.include_role:
        name: registry_ca
      vars:
        registry_ca_addresses: {addresses}
        registry_ca_certs_dir: "{{{{ certs_dir }}}}"
        registry_ca_host: localhost
        registry_ca_path: "{{{{ ca_path }}}}"
        registry_ca_certificate: "{{{{ ca_pem | default('') }}}}"
        registry_ca_settings: docker_engine_registry
"""


def _ca(tmp: Path, name: str) -> Path:
    key, crt = tmp / f"{name}.key", tmp / f"{name}.crt"
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            *curve,
            "-keyout",
            str(key),
            "-out",
            str(crt),
            "-subj",
            f"/CN={name}",
            "-days",
            "2",
        ],
        check=True,
        capture_output=True,
    )
    return crt


@pytest.fixture
def tmp(tmp_path):
    (tmp_path / "play.yml").write_text(PLAY.format(addresses=ADDRESSES))
    return tmp_path


def _play(tmp: Path, *args: str, **extra: str) -> tuple[int, str]:
    return play_on_localhost(tmp / "play.yml", {"certs_dir": str(tmp / "certs.d"), **extra}, *args)


def _changed(out: str) -> int:
    return recap(out)["localhost"]["changed"]


def test_the_ca_from_the_registry_host_is_trusted_for_every_address_once(tmp):
    ca = _ca(tmp, "registry-ca")
    rc, out = _play(tmp, "--check", ca_path=str(ca))
    assert rc == 0, out
    assert not (tmp / "certs.d").exists(), "check mode wrote something"
    rc, out = _play(tmp, ca_path=str(ca))
    assert rc == 0, out
    assert _changed(out) > 0, out
    for address in ADDRESSES:
        assert (tmp / "certs.d" / address / "ca.crt").read_text() == ca.read_text()
    rc, out = _play(tmp, ca_path=str(ca))
    assert rc == 0, out
    assert _changed(out) == 0, out


def test_a_ca_given_as_pem_is_written_as_given_and_a_new_one_replaces_it(tmp):
    first, second = _ca(tmp, "first"), _ca(tmp, "second")
    rc, out = _play(tmp, ca_path=str(tmp / "absent.crt"), ca_pem=first.read_text())
    assert rc == 0, out
    rc, out = _play(tmp, ca_path=str(tmp / "absent.crt"), ca_pem=second.read_text())
    assert rc == 0, out
    assert _changed(out) == 1, out
    for address in ADDRESSES:
        assert (tmp / "certs.d" / address / "ca.crt").read_text() == second.read_text()


def test_a_registry_host_without_its_ca_stops_the_run_naming_the_settings(tmp):
    rc, out = _play(tmp, ca_path=str(tmp / "absent.crt"))
    assert rc != 0
    assert (
        f"localhost has no {tmp / 'absent.crt'} (docker_engine_registry_ca_path). Set up the registry "
        "first (playbooks/registry.yml), set docker_engine_registry_ca_certificate, or set "
        "docker_engine_registry_trust_ca: false"
    ) in " ".join(out.split()), out
    assert not any((tmp / "certs.d").glob("*/ca.crt"))

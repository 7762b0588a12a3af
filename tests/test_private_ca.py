"""Role private_ca run by Ansible on this machine into a temporary directory: the CA and a server
certificate that verifies against it with every name asked for, a second run unchanged and its
handler not notified, a name added signs the certificate again, a certificate near its expiry is
renewed with the same key, --check on a fresh directory writes nothing, bad input is refused before
anything is written, naming the caller's variables. openssl reads the results."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.ansible_run import play_on_localhost
from vrecloud.recap import recap

PLAY = """
- name: A private CA as the registry and Galaxy's nginx make theirs
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Make it
      ansible.builtin.include_role:
        name: private_ca
      vars:
        private_ca_dir: "{{ ca_dir }}"
        private_ca_server_common_name: vre.example.org
        private_ca_server_sans: "{{ sans }}"
        private_ca_cert_days: "{{ cert_days | default(825) }}"
        private_ca_renew_days: "{{ renew_days | default(30) }}"
        private_ca_notify: [Reload the test service]
        private_ca_settings: test_tls
  handlers:
    - name: Reload the test service
      ansible.builtin.debug:
        msg: reloaded
"""
SANS = ["DNS:vre.example.org", "IP:10.9.9.9"]


@pytest.fixture
def tmp(tmp_path):
    (tmp_path / "play.yml").write_text(PLAY)
    return tmp_path


def _play(tmp: Path, *args: str, **extra) -> tuple[int, str]:
    return play_on_localhost(tmp / "play.yml", {"ca_dir": str(tmp / "tls"), "sans": SANS, **extra}, *args)


def _changed(out: str) -> int:
    return recap(out)["localhost"]["changed"]


def _openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], check=True, capture_output=True, text=True).stdout


def _cert(tmp: Path) -> dict[str, str]:
    crt = str(tmp / "tls/server.crt")
    return {
        "sans": _openssl("x509", "-in", crt, "-noout", "-ext", "subjectAltName"),
        "serial": _openssl("x509", "-in", crt, "-noout", "-serial"),
        "end": _openssl("x509", "-in", crt, "-noout", "-enddate"),
        "pubkey": _openssl("x509", "-in", crt, "-noout", "-pubkey"),
    }


def test_the_server_certificate_verifies_against_the_ca_and_a_second_run_changes_nothing(tmp):
    rc, out = _play(tmp)
    assert rc == 0, out
    assert "RUNNING HANDLER [Reload the test service]" in out
    tls = tmp / "tls"
    assert _openssl("verify", "-CAfile", str(tls / "ca.crt"), str(tls / "server.crt")).strip().endswith("OK")
    cert = _cert(tmp)
    assert "DNS:vre.example.org" in cert["sans"] and "IP Address:10.9.9.9" in cert["sans"]
    assert "CA:TRUE" in _openssl("x509", "-in", str(tls / "ca.crt"), "-noout", "-ext", "basicConstraints")
    assert oct((tls / "ca.key").stat().st_mode & 0o777) == "0o600"
    assert oct((tls / "server.key").stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in tls.iterdir()) == ["ca.crt", "ca.key", "server.crt", "server.key"]

    rc, out = _play(tmp)
    assert rc == 0, out
    assert _changed(out) == 0, out
    assert "RUNNING HANDLER" not in out
    assert _cert(tmp) == cert


def test_a_name_added_signs_the_certificate_again_with_the_same_key(tmp):
    assert _play(tmp)[0] == 0
    before = _cert(tmp)
    rc, out = _play(tmp, sans=[*SANS, "DNS:galaxy.example.org"])
    assert rc == 0, out
    assert "RUNNING HANDLER [Reload the test service]" in out
    after = _cert(tmp)
    assert "DNS:galaxy.example.org" in after["sans"] and after["serial"] != before["serial"]
    assert after["pubkey"] == before["pubkey"]


def test_a_certificate_near_its_expiry_is_renewed(tmp):
    assert _play(tmp, cert_days=20, renew_days=10)[0] == 0
    before = _cert(tmp)
    rc, out = _play(tmp, cert_days=20, renew_days=10)
    assert rc == 0 and _changed(out) == 0, out
    # 20 days left, renewed 30 days before the end: signed again, for 825 days, same key.
    rc, out = _play(tmp)
    assert rc == 0, out
    after = _cert(tmp)
    assert after["serial"] != before["serial"] and after["end"] != before["end"]
    assert after["pubkey"] == before["pubkey"]
    tls = tmp / "tls"
    assert _openssl("verify", "-CAfile", str(tls / "ca.crt"), str(tls / "server.crt")).strip().endswith("OK")


def test_check_mode_on_a_fresh_directory_writes_nothing(tmp):
    rc, out = _play(tmp, "--check")
    assert rc == 0, out
    assert not (tmp / "tls").exists(), "check mode wrote something"


@pytest.mark.bad_input
@pytest.mark.parametrize(
    "extra",
    [
        pytest.param({"sans": ["vre.example.org"]}, id="san-without-type"),
        pytest.param({"sans": []}, id="no-san"),
        pytest.param({"ca_dir": "tls"}, id="relative-directory"),
        pytest.param({"cert_days": 20, "renew_days": 30}, id="renewal-longer-than-validity"),
    ],
)
def test_bad_input_is_refused_naming_the_callers_variables_and_writes_nothing(tmp, extra):
    rc, out = _play(tmp, **extra)
    assert rc != 0
    assert "the private CA of test_tls needs an absolute directory" in " ".join(out.split()), out
    assert "check the names and addresses given for test_tls" in " ".join(out.split()), out
    assert not (tmp / "tls").exists()

"""vre_packages_missing: which apt installs the package list read at preflight makes unneeded."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from jinja2 import Undefined

from filter_plugins.packages import vre_packages_missing
from tests.ansible_run import VENV_BIN, output, run_ansible

ROOT = Path(__file__).resolve().parents[2]

# What the preflight's dpkg-query registers: "<name> <db:Status-Status>" per package dpkg knows
# (config-files: removed but its configuration kept, which is not installed).
QUERY = {
    "rc": 0,
    "stdout_lines": ["nginx installed", "munge installed", "libc6:amd64 installed", "apache2 config-files"],
}


def test_installed_packages_are_not_missing_and_order_is_kept():
    assert vre_packages_missing(["zookeeperd", "nginx", "acl", "munge"], QUERY) == ["zookeeperd", "acl"]
    assert vre_packages_missing(["nginx", "munge"], QUERY) == []


def test_one_name_as_a_string():
    assert vre_packages_missing("nginx", QUERY) == []
    assert vre_packages_missing("acl", QUERY) == ["acl"]


def test_a_package_with_only_its_configuration_left_is_missing():
    assert vre_packages_missing(["apache2"], QUERY) == ["apache2"]


@pytest.mark.parametrize(
    "query",
    [
        None,
        Undefined(),
        {},
        {"rc": 1, "stdout_lines": []},
        {"skipped": True},
        {"rc": 0, "stdout_lines": None},
    ],
    ids=["none", "undefined", "empty", "failed", "skipped", "no-lines"],
)
def test_without_the_list_everything_is_missing(query):
    assert vre_packages_missing(["nginx", "acl"], query) == ["nginx", "acl"]


@pytest.mark.parametrize("name", ["nginx=1.22.1-9", "nginx*", "./nginx.deb", "Nginx"])
def test_names_that_are_not_plain_package_names_count_as_missing(name):
    assert vre_packages_missing([name], QUERY) == [name]


def test_architecture_suffixes_are_ignored_on_both_sides():
    assert vre_packages_missing(["nginx:amd64", "libc6"], QUERY) == []


def test_bad_input_names_the_filter():
    with pytest.raises(AnsibleFilterError, match="vre_packages_missing"):
        vre_packages_missing([1, 2], QUERY)


def test_the_preflight_query_format_on_this_machine():
    """The format string the preflight passes gives lines the filter reads (this machine is Debian)."""
    preflight = (ROOT / "roles/vre_preflight/tasks/facts.yml").read_text()
    assert "--showformat=${binary:Package} ${db:Status-Status}\\n" in preflight
    out = subprocess.run(
        ["dpkg-query", "--show", "--showformat=${binary:Package} ${db:Status-Status}\n"],
        capture_output=True,
        text=True,
        check=True,
    )
    query = {"rc": 0, "stdout_lines": out.stdout.splitlines()}
    assert vre_packages_missing(["dpkg", "no-such-package-vre"], query) == ["no-such-package-vre"]


def test_the_guard_in_a_play_without_the_preflight_runs_apt_and_with_it_only_for_the_missing():
    """In Ansible itself: roles/vre_defaults gives vre_debian_packages a default (None), so a role's
    `when:` does not fail on an undefined variable where no preflight ran (molecule)."""
    proc = run_ansible(
        "ansible-playbook",
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={VENV_BIN / 'python'}",
        str(ROOT / "tests" / "fixtures" / "packages" / "guard.yml"),
        env={"ANSIBLE_STRATEGY": "linear"},
        timeout=120,
    )
    out = output(proc)
    assert proc.returncode == 0, out
    # The YAML callback quotes the message and doubles its quotes.
    assert "missing without the list: [''dpkg'', ''no-such-package-vre'']" in out
    assert "missing with the list: [''no-such-package-vre'']" in out

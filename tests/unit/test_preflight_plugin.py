"""action_plugins/vre_preflight.py: the pieces that read the project itself (site.yaml's plays,
the roles' names and defaults) and the host-pattern resolver, without running Ansible."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("vre_preflight", ROOT / "action_plugins" / "vre_preflight.py")
vre_preflight = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(vre_preflight)

GROUPS = {
    "all": ["g1", "k1", "k2", "n1", "r1"],
    "galaxy": ["g1"],
    "kube_control_plane": ["k1"],
    "kube_nodes": ["k2"],
    "nfs_clients": ["g1", "k2"],
    "registry": ["r1"],
}


@pytest.mark.parametrize(
    ("pattern", "hosts"),
    [
        ("all", ["g1", "k1", "k2", "n1", "r1"]),
        ("galaxy", ["g1"]),
        ("kube_control_plane:kube_nodes", ["k1", "k2"]),
        ("kube_control_plane[0]", ["k1"]),
        ("galaxy[3]", []),
        ("nfs_clients:!galaxy", ["k2"]),
        ("nfs_clients:&kube_nodes", ["k2"]),
        ("none", []),
        ("n1", ["n1"]),
    ],
)
def test_host_patterns_resolve_as_ansible_does(pattern, hosts):
    assert vre_preflight.resolve(pattern, GROUPS) == hosts


def test_every_role_site_yaml_applies_is_found_with_its_hosts():
    plays = vre_preflight.site_plays()
    roles = [role for _, play_roles in plays for role in play_roles]
    # Every role directory is applied by some play of site.yaml, or included whole by a role that
    # is (its inputs are that role's variables, checked there): none escapes the preflight.
    on_disk = {p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").is_file()}
    included = vre_preflight.included_roles()
    assert on_disk - set(roles) - set(included) == set()
    assert included == {
        "private_ca": ("docker_registry", "galaxy"),
        "registry_ca": ("docker_engine", "kube_common"),
    }
    assert all(set(by) <= set(roles) for by in included.values())
    assert ("nfs_clients", ("nfs_client",)) in plays
    # A templated pattern is kept as written, for the plugin to template with the run's variables.
    assert any("{{" in hosts and roles == ("zookeeper",) for hosts, roles in plays)


def test_known_names_come_from_the_roles_and_the_project():
    known = vre_preflight.known_names()
    assert {"galaxy_db_password", "nfs_server_allowed_clients", "vre_galaxy_uid"} <= known
    assert "galaxy_db_pasword" not in known


@pytest.mark.parametrize("value", ["changeme", " ChangeMe-now ", "xxxx", "<your password>", "TODO", "secret"])
def test_example_values_are_recognised(value):
    assert vre_preflight.is_example(value)


@pytest.mark.parametrize("value", ["Rq7xZp-81", "s3cure-Registry-Pass-41", "9f1c2e7a5b3d4c6e"])
def test_real_values_are_not_examples(value):
    assert not vre_preflight.is_example(value)


def test_an_empty_default_means_the_role_generates_it():
    assert vre_preflight.empty_means_generated("galaxy_db_password")
    assert not vre_preflight.empty_means_generated("vre_registry_pull_password")

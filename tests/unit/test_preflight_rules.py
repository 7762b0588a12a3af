"""The preflight's includes of the roles' rules (roles/vre_preflight/tasks/rules.yml) are every
role's rule files, in site.yaml's order, each included only for the hosts that have the role."""

import importlib.util
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "roles" / "vre_preflight" / "tasks" / "rules.yml"


def _plugin():
    spec = importlib.util.spec_from_file_location(
        "vre_preflight_action", ROOT / "action_plugins" / "vre_preflight.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _includes():
    tasks = yaml.safe_load(RULES.read_text())
    return [t for t in tasks if "ansible.builtin.include_role" in t]


def test_every_roles_rules_are_included_in_site_order():
    included = [
        (t["ansible.builtin.include_role"]["name"], t["ansible.builtin.include_role"]["tasks_from"])
        for t in _includes()
    ]
    expected = _plugin().rule_files()
    assert len(expected) >= 15, expected
    assert included == expected


def test_each_include_is_for_the_hosts_with_the_role_only():
    for task in _includes():
        role = task["ansible.builtin.include_role"]["name"]
        assert task["when"] == f"'{role}' in vre_preflight_roles.roles", task["name"]
        assert task["ansible.builtin.include_role"]["apply"] == {"tags": ["always"]}, task["name"]
        assert role in task["name"], task["name"]

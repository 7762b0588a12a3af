"""Tags: `--tags <role>` runs one role of site.yaml, `--tags <role>_<part>` one part of it (the
official galaxyproject.galaxy role's scheme), the preflight always (its plays are tagged always).

Checked statically: every role entry of the playbooks carries its role's name as a tag, and every
include or import in a role's tasks/main.yml carries `<role>_<file>` (for include_tasks also in
`apply`, without which the included tasks would not inherit it)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MAINS = sorted(ROOT.glob("roles/*/tasks/main.yml"))
PLAYBOOKS = sorted(ROOT.glob("playbooks/*.yml"))


def _includes(path: Path):
    for task in yaml.safe_load(path.read_text()) or []:
        for key in ("ansible.builtin.include_tasks", "ansible.builtin.import_tasks"):
            if key in task:
                arg = task[key]
                yield key.rsplit(".", 1)[1], task, arg if isinstance(arg, dict) else {"file": arg}


@pytest.mark.parametrize("main", MAINS, ids=[p.parts[-3] for p in MAINS])
def test_every_include_of_a_role_is_tagged_with_its_part(main):
    role = main.parts[-3]
    found = list(_includes(main))
    assert found, f"{main}: no include found (the check would pass on nothing)"
    for kind, task, arg in found:
        tag = f"{role}_{Path(arg['file']).stem}"
        tags = task.get("tags") or []
        assert tag in tags, f"{main}: '{task['name']}' lacks the tag {tag}"
        if kind == "include_tasks":
            applied = (arg.get("apply") or {}).get("tags") or []
            assert tag in applied, f"{main}: '{task['name']}' does not apply {tag} to what it includes"


def test_every_role_of_the_playbooks_is_tagged_with_its_name():
    entries = []
    for playbook in PLAYBOOKS:
        for play in yaml.safe_load(playbook.read_text()) or []:
            for entry in play.get("roles") or []:
                if isinstance(entry, dict) and entry.get("role") != "vre_defaults":
                    entries.append((playbook.name, entry))
    assert len(entries) >= 15, entries
    for name, entry in entries:
        assert entry["role"] in (entry.get("tags") or []), f"{name}: role {entry['role']} lacks its tag"


def test_the_preflight_always_runs():
    for play in yaml.safe_load((ROOT / "playbooks" / "preflight.yml").read_text()):
        assert "always" in (play.get("tags") or []), f"preflight play '{play['name']}' is not tagged always"

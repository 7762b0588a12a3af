"""Every collection in requirements.yml is installed in the venv at a version its constraint allows.

Installed versions come from `ansible-galaxy collection list --format json` of the venv, run from the
project root so that ansible.cfg applies. Where a collection is installed in several places, the first
one listed is the one Ansible loads, and that is the one checked.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements.yml"


def _requirements() -> list[tuple[str, str]]:
    """(name, version constraint) of each collection in requirements.yml; '' for no constraint."""
    data = yaml.safe_load(REQUIREMENTS.read_text())
    assert isinstance(data, dict), f"{REQUIREMENTS}: expected a mapping with a 'collections' list"
    entries = data.get("collections")
    assert isinstance(entries, list) and entries, f"{REQUIREMENTS}: 'collections' must be a non-empty list"
    parsed = []
    for entry in entries:
        if isinstance(entry, str):
            parsed.append((entry, ""))
            continue
        assert isinstance(entry, dict) and isinstance(entry.get("name"), str), (
            f"{REQUIREMENTS}: each collection needs a 'name', got {entry!r}"
        )
        version = entry.get("version", "")
        assert isinstance(version, str), (
            f"{REQUIREMENTS}: collection {entry['name']}: quote the version constraint, got {version!r}"
        )
        parsed.append((entry["name"], version.strip()))
    return parsed


REQUIRED = _requirements()


@pytest.fixture(scope="module")
def installed() -> dict[str, list[tuple[str, str]]]:
    """Collection name -> [(version, collection path)], in the order ansible-galaxy lists them."""
    galaxy = Path(sys.executable).parent / "ansible-galaxy"
    assert galaxy.exists(), f"no ansible-galaxy next to {sys.executable}; run pytest from the project's .venv"
    run = subprocess.run(
        [str(galaxy), "collection", "list", "--format", "json"],
        cwd=ROOT,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, f"ansible-galaxy collection list failed:\n{run.stdout}\n{run.stderr}"
    listing: dict[str, dict[str, Any]] = json.loads(run.stdout)
    found: dict[str, list[tuple[str, str]]] = {}
    for path, collections in listing.items():
        for name, info in collections.items():
            found.setdefault(name, []).append((str(info.get("version", "")), path))
    return found


def test_requirements_name_unique_collections():
    names = [name for name, _ in REQUIRED]
    assert len(names) == len(set(names)), f"{REQUIREMENTS}: a collection is listed twice: {names}"


@pytest.mark.parametrize(("name", "constraint"), REQUIRED, ids=[name for name, _ in REQUIRED])
def test_collection_installed_with_satisfying_version(name, constraint, installed):
    assert name in installed, (
        f"collection {name} ({constraint or 'any version'}) from requirements.yml is not installed; "
        "install the pinned `ansible` package (`./vre bootstrap`) or "
        "`ansible-galaxy collection install -r requirements.yml`"
    )
    version, path = installed[name][0]
    if constraint in ("", "*"):
        return
    try:
        spec = SpecifierSet(constraint)
    except InvalidSpecifier:
        pytest.fail(f"requirements.yml: collection {name} has an invalid version constraint {constraint!r}")
    try:
        parsed = Version(version)
    except InvalidVersion:
        pytest.fail(f"collection {name} at {path} has an unparsable version {version!r}")
    assert spec.contains(parsed, prereleases=True), (
        f"collection {name} {version} (at {path}) does not satisfy {constraint!r} from requirements.yml; "
        f"all installed copies: {installed[name]}"
    )


# Module and plugin names as the roles and playbooks write them: FQCN, collection first.
_FQCN_RE = re.compile(r"^\s*-?\s*([a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+:", re.MULTILINE)


def test_every_collection_the_roles_and_playbooks_use_is_required():
    """A task's module (`community.postgresql.postgresql_user:`, say) names a collection that
    requirements.yml lists, so that `ansible-galaxy collection install -r requirements.yml` gives
    an operator's controller everything the roles run."""
    used: dict[str, str] = {}
    files = [
        *ROOT.glob("roles/*/tasks/*.yml"),
        *ROOT.glob("roles/*/handlers/*.yml"),
        *ROOT.glob("playbooks/*.yml"),
        ROOT / "site.yaml",
    ]
    for path in files:
        for match in _FQCN_RE.finditer(path.read_text()):
            used.setdefault(match.group(1), str(path.relative_to(ROOT)))
    assert {"ansible.builtin", "community.postgresql", "kubernetes.core"} <= used.keys(), (
        "the scan missed modules"
    )
    listed = {name for name, _ in REQUIRED} | {"ansible.builtin"}
    missing = {name: where for name, where in used.items() if name not in listed}
    assert not missing, f"requirements.yml does not list these collections (first use): {missing}"

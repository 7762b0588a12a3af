"""The galaxy role's database scripts, run with Galaxy's own code on a scratch database.

roles/galaxy/files/galaxy_db.py creates or migrates the schema and galaxy_admin.py makes the
admin user and its API key, both before Galaxy's first start (so that it starts once). Here both
run in the Galaxy test venv (.venv-galaxy, tests/galaxy_venv.sh) against a SQLite database named
by a galaxy.yml, the way the role runs them against PostgreSQL, and the rows they write are read
back with Galaxy's model: the user Galaxy's user manager would make (password hash Galaxy checks,
its private role, default permissions), one valid API key.

Skipped with the command to run when .venv-galaxy is missing, unless VRE_REQUIRE_GALAXY is set.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.galaxy_code import galaxy_python

ROOT = Path(__file__).resolve().parent.parent
FILES = ROOT / "roles" / "galaxy" / "files"
PASSWORD = "a-generated-admin-password-0123456789"

# Reads the database back with Galaxy's model; prints JSON.
_READ_BACK = """
import json, sys
from galaxy.model.mapping import init
from galaxy.model.migrations.scripts import get_configuration_from_file
from galaxy.security.passwords import check_password
from sqlalchemy import select
gxy, _, _ = get_configuration_from_file(".", sys.argv[1])
m = init(".", gxy.url)
s = m.session
users = s.scalars(select(m.User)).all()
out = []
for u in users:
    keys = s.scalars(select(m.APIKeys).filter_by(user_id=u.id)).all()
    out.append({
        "email": u.email, "username": u.username, "active": u.active,
        "password_ok": check_password(sys.argv[2], u.password),
        "private_roles": [r.role.type for r in u.roles if r.role.type == "private"],
        "default_permissions": len(u.default_permissions),
        "keys": [{"key": k.key, "deleted": k.deleted} for k in keys],
    })
print(json.dumps(out))
"""


def _python() -> Path:
    return galaxy_python()


def _run(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(_python()), *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _json_line(proc: subprocess.CompletedProcess) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _galaxy_yml(directory: Path) -> Path:
    conf = directory / "galaxy.yml"
    conf.write_text(
        "galaxy:\n"
        f"  database_connection: sqlite:///{directory}/universe.sqlite?isolation_level=IMMEDIATE\n"
        "  admin_users: admin@example.org\n"
    )
    return conf


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """A database made by galaxy_db.py (once per module: Galaxy's migrations take a while)."""
    conf = _galaxy_yml(tmp_path_factory.mktemp("schema"))
    first = _json_line(_run(conf.parent, str(FILES / "galaxy_db.py"), str(conf)))
    again = _json_line(_run(conf.parent, str(FILES / "galaxy_db.py"), str(conf)))
    return conf.parent / "universe.sqlite", first, again


@pytest.fixture
def galaxy_yml(schema: tuple[Path, dict, dict], tmp_path: Path) -> Path:
    """A galaxy.yml naming a fresh copy of the migrated database."""
    (tmp_path / "universe.sqlite").write_bytes(schema[0].read_bytes())
    return _galaxy_yml(tmp_path)


def test_schema_is_created_once_then_current(schema: tuple[Path, dict, dict]):
    _, first, again = schema
    assert first["state"] == "created"
    assert len(first["heads"]) == 2  # Galaxy's model and the tool shed install model
    assert again == {"state": "current", "heads": first["heads"]}


def test_quick_look_says_current_only_at_this_releases_heads(galaxy_yml: Path):
    # galaxy_db.py's quick look (alembic's table against the scripts' heads, without Galaxy's
    # code) agrees with Galaxy on a current database, and hands anything else to Galaxy's code.
    probe = (
        "import sys, json; sys.path.insert(0, sys.argv[1]); import galaxy_db; "
        "print(json.dumps(galaxy_db.quick_current(sys.argv[2])))"
    )
    heads = json.loads(_run(galaxy_yml.parent, "-c", probe, str(FILES), str(galaxy_yml)).stdout)
    assert heads and len(heads) == 2
    db = galaxy_yml.parent / "universe.sqlite"
    proc = _run(
        galaxy_yml.parent,
        "-c",
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
        "c.execute(\"UPDATE alembic_version SET version_num = 'an0lder0rev' WHERE version_num = ?\", "
        "(sys.argv[2],)); c.commit()",
        str(db),
        heads[0],
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(_run(galaxy_yml.parent, "-c", probe, str(FILES), str(galaxy_yml)).stdout) is None


def test_admin_is_made_as_galaxys_user_manager_makes_users(galaxy_yml: Path):
    cwd = galaxy_yml.parent
    admin = [str(FILES / "galaxy_admin.py"), str(galaxy_yml), "admin@example.org", "admin"]
    made = _json_line(_run(cwd, *admin, stdin=PASSWORD + "\n"))
    assert made["user"] == "created"
    assert len(made["api_key"]) == 32 and int(made["api_key"], 16) >= 0
    # The password never goes through argv (visible in ps).
    assert PASSWORD not in " ".join(admin)

    (user,) = json.loads(_run(cwd, "-c", _READ_BACK, str(galaxy_yml), PASSWORD).stdout)
    assert user["email"] == "admin@example.org" and user["username"] == "admin" and user["active"]
    assert user["password_ok"], "Galaxy does not accept the password the script set"
    assert user["private_roles"] == ["private"]
    assert user["default_permissions"] >= 1
    assert user["keys"] == [{"key": made["api_key"], "deleted": False}]

    # Run again (the key file was removed): the same user, a new key, the old one deleted.
    again = _json_line(_run(cwd, *admin, stdin=PASSWORD))
    assert again["user"] == "existing" and again["api_key"] != made["api_key"]
    (user,) = json.loads(_run(cwd, "-c", _READ_BACK, str(galaxy_yml), PASSWORD).stdout)
    assert sorted((k["key"], k["deleted"]) for k in user["keys"]) == sorted(
        [(made["api_key"], True), (again["api_key"], False)]
    )


def test_admin_username_taken_by_another_user_is_refused_with_the_variable(galaxy_yml: Path):
    cwd = galaxy_yml.parent
    script = str(FILES / "galaxy_admin.py")
    _json_line(_run(cwd, script, str(galaxy_yml), "someone@example.org", "admin", stdin=PASSWORD))
    proc = _run(cwd, script, str(galaxy_yml), "admin@example.org", "admin", stdin=PASSWORD)
    assert proc.returncode != 0
    assert "galaxy_admin_username" in proc.stderr

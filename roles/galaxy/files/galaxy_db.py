"""Create Galaxy's database schema, or bring it to this release's, before any Galaxy process starts.

    <galaxy venv>/bin/python galaxy_db.py /etc/galaxy/galaxy.yml

Galaxy's own code does the work, as its scripts/create_db.py and manage_db.sh do in a source
checkout (the wheels ship neither): the database named by galaxy.yml is verified, the Galaxy and
tool-shed-install models are created on an empty database and migrated to their heads otherwise.
Done here once, by one process, so that the web workers and the job handlers that gravity starts
together never race to create the same tables (they verify a current schema and go on). Prints
one JSON line: {"state": "created" | "upgraded" | "current", "heads": [...]}, for the role's
changed_when.

Every converge runs this, and importing Galaxy's migration code takes about 8 s: so first a quick
look with alembic alone (under a second), which says "current" when galaxy.yml names one database
and its alembic heads are the heads of this release's migration scripts (what Galaxy's own
up-to-date check compares). Anything else (an empty or older database, a separate install
database, no database_connection) goes through Galaxy's code.
"""

import ast
import importlib.util
import json
import os
import sys
from pathlib import Path

import yaml
from sqlalchemy import create_engine, inspect, text


def script_heads(alembic_dir):
    """The heads of the revision scripts under alembic_dir, read without importing them (each
    imports Galaxy's model): the revisions no other script names as its down_revision."""
    revisions, downs = set(), set()
    for script in alembic_dir.glob("versions_*/*.py"):
        values = {}
        for node in ast.parse(script.read_text()).body:
            # `revision = "..."` or `revision: str = "..."`, at module level.
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if len(names) == 1 and names[0] in ("revision", "down_revision") and node.value is not None:
                values[names[0]] = ast.literal_eval(node.value)
        if not isinstance(values.get("revision"), str):
            continue
        revisions.add(values["revision"])
        down = values.get("down_revision")
        downs.update([down] if isinstance(down, str) else down or ())
    return sorted(revisions - downs)


def quick_current(config_file):
    """This release's heads when galaxy.yml's database is at them, else None (no Galaxy import)."""
    with open(config_file) as fh:
        galaxy = (yaml.safe_load(fh) or {}).get("galaxy") or {}
    url = galaxy.get("database_connection")
    if not url or galaxy.get("install_database_connection") not in (None, url):
        return None
    spec = importlib.util.find_spec("galaxy")
    dirs = [Path(p, "model", "migrations", "alembic") for p in (spec.submodule_search_locations or [])]
    dirs = [d for d in dirs if d.is_dir()]
    if len(dirs) != 1:
        return None
    heads_in_code = script_heads(dirs[0])
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            db_heads = sorted(row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version")))
    finally:
        engine.dispose()
    return db_heads if db_heads and db_heads == heads_in_code else None


def heads(url):
    from galaxy.model.migrations import AlembicManager
    from galaxy.model.migrations.base import DatabaseStateCache

    engine = create_engine(url)
    try:
        if DatabaseStateCache(engine=engine).is_database_empty():
            return None
        return sorted(AlembicManager(engine).db_heads or [])
    finally:
        engine.dispose()


def main(config_file):
    current = quick_current(config_file)
    if current is not None:
        print(json.dumps({"state": "current", "heads": current}))
        return
    from galaxy.model.migrations import GXY, TSI, AlembicManager, verify_databases_via_script
    from galaxy.model.migrations.scripts import get_configuration_from_file

    gxy, tsi, _ = get_configuration_from_file(os.getcwd(), config_file)
    before = heads(gxy.url)
    # is_auto_migrate: an older schema is migrated (galaxy.yml sets database_auto_migrate too).
    verify_databases_via_script(gxy, tsi, is_auto_migrate=True)
    after = heads(gxy.url)
    engine = create_engine(gxy.url)
    try:
        manager = AlembicManager(engine)
        if not (manager.is_up_to_date(GXY) and manager.is_up_to_date(TSI)):
            sys.exit(f"Galaxy's database is not at this release's schema after migrating: {after}")
    finally:
        engine.dispose()
    state = "created" if before is None else "upgraded" if before != after else "current"
    print(json.dumps({"state": state, "heads": after}))


if __name__ == "__main__":
    main(sys.argv[1])

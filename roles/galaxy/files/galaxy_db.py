"""Create Galaxy's database schema, or bring it to this release's, before any Galaxy process starts.

    <galaxy venv>/bin/python galaxy_db.py /etc/galaxy/galaxy.yml

Galaxy's own code does the work, as its scripts/create_db.py and manage_db.sh do in a source
checkout (the wheels ship neither): the database named by galaxy.yml is verified, the Galaxy and
tool-shed-install models are created on an empty database and migrated to their heads otherwise.
Done here once, by one process, so that the web workers and the job handlers that gravity starts
together never race to create the same tables (they verify a current schema and go on). Prints
one JSON line: {"state": "created" | "upgraded" | "current", "heads": [...]}, for the role's
changed_when.
"""

import json
import os
import sys

from galaxy.model.migrations import GXY, TSI, AlembicManager, verify_databases_via_script
from galaxy.model.migrations.base import DatabaseStateCache
from galaxy.model.migrations.scripts import get_configuration_from_file
from sqlalchemy import create_engine


def heads(url):
    engine = create_engine(url)
    try:
        if DatabaseStateCache(engine=engine).is_database_empty():
            return None
        return sorted(AlembicManager(engine).db_heads or [])
    finally:
        engine.dispose()


def main(config_file):
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

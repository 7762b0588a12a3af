"""Create Galaxy's admin user and a new API key for it in the database, before Galaxy starts.

    <galaxy venv>/bin/python galaxy_admin.py /etc/galaxy/galaxy.yml EMAIL USERNAME  < password

Galaxy's own model does the work, as its user manager does for POST /api/users: the user with
its password hash (Galaxy's pbkdf2), its private role and default permissions; then an API key,
the older keys of the user marked deleted (Galaxy keeps one valid key per user). The database
must hold this release's schema (galaxy_db.py first). The password comes on stdin, never in
argv. Prints one JSON line: {"user": "created" | "existing", "api_key": "..."}: the caller keeps
the key root-only and never logs it.

The role runs this once, when the admin's API key file does not exist yet. So Galaxy's first start
already knows its admin (listed in admin_users) and no bootstrap API key is ever written to
galaxy.yml, nor a second start needed to drop one.
"""

import json
import os
import secrets
import sys
import types

from galaxy.model.mapping import init
from galaxy.model.migrations.scripts import get_configuration_from_file
from sqlalchemy import select, update


def main(config_file, email, username, password):
    gxy, _, _ = get_configuration_from_file(os.getcwd(), config_file)
    model = init(os.getcwd(), gxy.url)
    session = model.session
    try:
        user = session.scalars(select(model.User).filter_by(email=email)).first()
        state = "existing"
        if user is None:
            if session.scalars(select(model.User).filter_by(username=username)).first() is not None:
                sys.exit(
                    f"another Galaxy user already has the username {username!r}: set galaxy_admin_username"
                )
            user = model.User(email=email, username=username)
            user.set_password_cleartext(password)
            user.active = True
            session.add(user)
            session.flush()
            # Galaxy's user manager: the private role, then the default permissions (the new-user
            # defaults of a Galaxy whose config does not make them private).
            model.security_agent.create_user_role(user, types.SimpleNamespace(config=types.SimpleNamespace()))
            state = "created"
        session.execute(
            update(model.APIKeys)
            .where(model.APIKeys.user_id == user.id, model.APIKeys.deleted.is_(False))
            .values(deleted=True)
        )
        key = model.APIKeys(user_id=user.id, key=secrets.token_hex(16))
        session.add(key)
        session.commit()
        print(json.dumps({"user": state, "api_key": key.key}))
    finally:
        session.remove()
        model.engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__.split("\n\n")[1].strip())
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.stdin.read().rstrip("\n"))

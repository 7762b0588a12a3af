"""vrecloud.secrets: generated once, kept, 0600, and never holding a template delimiter (Ansible
would template such a value, and ansible-core quotes a template's source in its errors)."""

from __future__ import annotations

import re
import stat

import yaml

from vrecloud import secrets


def test_generated_secrets_are_kept_private_and_free_of_template_delimiters(tmp_path):
    path = tmp_path / "secrets.yml"
    first = secrets.ensure(path)
    assert set(first) == set(secrets.SECRETS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secrets.ensure(path) == first, "kept on the next run"
    for _ in range(50):
        path.unlink()
        for value in secrets.ensure(path).values():
            assert re.fullmatch(r"[A-Za-z0-9_-]{32}", value), "URL-safe characters only"
    assert yaml.safe_load(path.read_text()) == secrets.ensure(path)


def test_a_missing_secret_is_added_and_the_others_kept(tmp_path):
    path = tmp_path / "secrets.yml"
    path.write_text(yaml.safe_dump({"vre_registry_pull_password": "Operator-Chosen-91"}))
    got = secrets.ensure(path)
    assert got["vre_registry_pull_password"] == "Operator-Chosen-91"
    assert all(got[name] for name in secrets.SECRETS)

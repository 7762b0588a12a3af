"""The Debian packages a task would install that the host does not have.

``names | vre_packages_missing(vre_debian_packages)``
    The names among ``names`` (a list, or one name) that are not installed on the host, in order.
    ``vre_debian_packages`` is what the preflight registered from ``dpkg-query`` on each host, once,
    before the first play changes anything (``playbooks/preflight.yml``): one ``<name> <status>``
    line per package known to dpkg. Without it (None, its default in roles/vre_defaults: a role run
    on its own, by molecule; or a failed query), every name counts as missing, so the apt task
    runs as it would without this filter. A name that is not a plain package name (a version pin
    ``pkg=1.2``, a wildcard, a ``.deb`` file) counts as missing; an architecture suffix
    (``pkg:amd64``) is ignored.

The roles guard their apt tasks with it (``when: ... | vre_packages_missing(vre_debian_packages)
| length > 0``), so that a converge where every package is already there runs no apt module (each
loads apt's whole cache: about a second per host on a loaded machine, where ``dpkg-query`` takes a
few milliseconds). The list is not refreshed during the run: a package installed earlier in the
same run counts as missing, so apt runs for it, as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from jinja2 import Undefined

_PLAIN_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]*$")


def _installed(query: Any) -> set[str] | None:
    """The installed package names from the registered dpkg-query result, or None."""
    if isinstance(query, Undefined) or not isinstance(query, Mapping):
        return None
    if query.get("rc") != 0 or query.get("skipped") or not isinstance(query.get("stdout_lines"), list):
        return None
    names = set()
    for line in query["stdout_lines"]:
        parts = str(line).split()
        if len(parts) == 2 and parts[1] == "installed":
            names.add(parts[0].split(":", 1)[0])
    return names


def vre_packages_missing(names: Any, query: Any = None) -> list[str]:
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise AnsibleFilterError(f"vre_packages_missing: expected a list of package names, got {names!r}")
    installed = _installed(query)
    if installed is None:
        return list(names)
    missing = []
    for name in names:
        plain = name.split(":", 1)[0]
        if not _PLAIN_NAME_RE.match(plain) or plain not in installed:
            missing.append(name)
    return missing


class FilterModule:
    """The package filter."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"vre_packages_missing": vre_packages_missing}

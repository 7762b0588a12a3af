"""Ansible's dynamic-inventory JSON, the one builder every provider's script uses.

The script contract: `--list` prints the groups with their hosts and every host's variables under
`_meta.hostvars` (so Ansible never calls `--host`); `--host NAME` prints one host's variables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def build(hosts: Iterable[tuple[str, Sequence[str], Mapping[str, Any]]]) -> dict[str, Any]:
    """Inventory JSON for `(name, groups, hostvars)` triples, groups in first-seen order."""
    inv: dict[str, Any] = {"_meta": {"hostvars": {}}, "all": {"children": ["ungrouped"]}}
    for name, groups, hostvars in hosts:
        for group in groups:
            inv.setdefault(group, {"hosts": []})["hosts"].append(name)
            if group not in inv["all"]["children"]:
                inv["all"]["children"].append(group)
        inv["_meta"]["hostvars"][name] = dict(hostvars)
    return inv


def host(inv: Mapping[str, Any], name: str) -> dict[str, Any]:
    """`--host NAME`: that host's variables, or {} for a host the inventory does not have."""
    return dict(inv["_meta"]["hostvars"].get(name, {}))

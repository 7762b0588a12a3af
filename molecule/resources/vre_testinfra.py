"""The scenarios' verifiers reach their hosts through this module: one place for it.

Importable in every scenario's tests because the base configuration (.config/molecule/config.yml)
puts molecule/resources on the verifier's PYTHONPATH.

``CLUSTER_DEFAULTS``: roles/vre_defaults/defaults/main.yml, the cluster-wide values' one home.
``host(name)``: the testinfra host ``name`` of the scenario's inventory (molecule's own, through
the Ansible backend). ``host_fixture(fixture_name, name)``: a module-scoped pytest fixture called
``fixture_name`` that returns ``host(name)``. ``mode_header(...)``: the line a scenario with an
install-source variable prints at the top of its verifier's output (full or no-binary mode).
"""

from __future__ import annotations

import os

import pytest
import testinfra

# The cluster-wide values as roles/vre_defaults defines them (the scenarios keep its defaults), for
# the verifiers to compare with: one loader for tests/ and molecule/ (the project's root is on the
# verifier's PYTHONPATH).
from tests.vre_defaults import CLUSTER_DEFAULTS  # noqa: F401 - re-exported for the verifiers


def host(name: str):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def host_fixture(fixture_name: str, name: str):
    @pytest.fixture(scope="module", name=fixture_name)
    def _fixture():
        return host(name)

    return _fixture


def mode_header(scenario: str, variable: str, full: str, no_binary: str) -> str:
    """`<scenario> scenario: FULL MODE (VAR=value): <full>` when the environment variable is set,
    else `... NO-BINARY MODE (VAR not set): <no_binary>` (for pytest_report_header)."""
    value = os.environ.get(variable)
    if value:
        return f"{scenario} scenario: FULL MODE ({variable}={value}): {full}"
    return f"{scenario} scenario: NO-BINARY MODE ({variable} not set): {no_binary}"

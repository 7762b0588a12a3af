"""The scenarios' verifiers reach their hosts through this module: one place for it.

Importable in every scenario's tests because the base configuration (.config/molecule/config.yml)
puts molecule/resources on the verifier's PYTHONPATH.

``CLUSTER_DEFAULTS``: roles/vre_defaults/defaults/main.yml, the cluster-wide values' one home.
``host(name)``: the testinfra host ``name`` of the scenario's inventory (molecule's own, through
the Ansible backend). ``host_fixture(fixture_name, name)``: a module-scoped pytest fixture called
``fixture_name`` that returns ``host(name)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import testinfra
import yaml


def host(name: str):
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=os.environ["MOLECULE_INVENTORY_FILE"])


def host_fixture(fixture_name: str, name: str):
    @pytest.fixture(scope="module", name=fixture_name)
    def _fixture():
        return host(name)

    return _fixture


# The cluster-wide values as roles/vre_defaults defines them (the scenarios keep its defaults): the
# verifiers compare with these, not with copies of the numbers.
CLUSTER_DEFAULTS = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "roles" / "vre_defaults" / "defaults" / "main.yml").read_text()
)

#!/usr/bin/env python3
"""Dynamic inventory of the VRE cluster on OpenStack (Nova, Neutron, Glance via openstacksdk).

Ansible's script contract: `--list` prints the cluster's ACTIVE servers (found by their
`vre-cluster` metadata tag) with their groups and `_meta.hostvars`; `--host NAME` one host. Listing
only reads. Provisioning is explicit:

    inventories/openstack.py provision          create what is missing, reuse what exists
    inventories/openstack.py destroy --yes      remove exactly the cluster's resources

Configuration: $VRE_SPEC (the cluster spec, default inventories/specs/cloud.yml) and the usual
openstacksdk settings: $OS_CLOUD naming a clouds.yaml entry ($OS_CLIENT_CONFIG_FILE if the file is
elsewhere). See docs/providers.md.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Python puts this script's directory first on the path, where this file would shadow the
# `openstack` package (openstacksdk): put the repository root there instead.
sys.path[0] = str(ROOT)

from vrecloud.cli import main  # noqa: E402
from vrecloud.openstack import OpenStackProvider  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("openstack", lambda: OpenStackProvider(cloud=os.environ.get("OS_CLOUD"))))

#!/usr/bin/env python3
"""Dynamic inventory of the VRE cluster on ~okeanos (Synnefo: Astakos, Cyclades compute/network).

Ansible's script contract: `--list` prints the cluster's ACTIVE servers (found by their
`vre-cluster` metadata tag) with their groups and `_meta.hostvars`; `--host NAME` one host. Listing
only reads. Provisioning is explicit:

    inventories/okeanos.py provision            create what is missing, reuse what exists
    inventories/okeanos.py destroy --yes        remove exactly the cluster's resources

Configuration: $VRE_SPEC (the cluster spec, default inventories/specs/cloud.yml), and
$OKEANOS_URL + $OKEANOS_TOKEN (or kamaki's ~/.kamakirc). The REST client is vrecloud.synnefo
(Python 3; kamaki itself is Python 2). See docs/providers.md.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Python puts this script's directory first on the path, where this file would shadow the
# `openstack` package (openstacksdk): put the repository root there instead.
sys.path[0] = str(ROOT)

from vrecloud.cli import main  # noqa: E402
from vrecloud.okeanos import OkeanosProvider  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("okeanos", OkeanosProvider))

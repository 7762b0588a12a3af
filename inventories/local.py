#!/usr/bin/env python3
"""Dynamic inventory of the local provider (systemd containers acting as VMs).

Follows Ansible's inventory-script contract: `--list` prints every host of the cluster with its
groups and `_meta.hostvars`, `--host NAME` prints one host's variables. Listing has no side
effects: it reads the containers' labels and creates nothing (`./vre up` creates hosts).

The cluster is the one named in $VRE_SPEC (default: inventories/specs/local.yml).
"""

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vrecloud import local  # noqa: E402
from vrecloud.spec import SpecError, load_spec  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--host")
    args = parser.parse_args()
    spec_path = os.environ.get("VRE_SPEC", str(ROOT / "inventories/specs/local.yml"))
    try:
        cluster = load_spec(spec_path).cluster
        hosts = local.list_hosts(cluster) if local.dockerd_answers() else []
    except (SpecError, local.ProviderError) as exc:
        print(f"inventories/local.py: {exc}", file=sys.stderr)
        return 1
    inv = local.inventory(hosts)
    if args.host:
        print(json.dumps(inv["_meta"]["hostvars"].get(args.host, {})))
    else:
        print(json.dumps(inv, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

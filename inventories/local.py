#!/usr/bin/env python3
"""Dynamic inventory of the local provider (systemd containers acting as VMs).

Follows Ansible's inventory-script contract: `--list` prints every host of the cluster with its
groups and `_meta.hostvars`, `--host NAME` prints one host's variables. Listing has no side
effects: it reads the containers' labels and creates nothing. Provisioning is explicit, with the
same subcommands as the cloud inventories:

    inventories/local.py provision          create the spec's hosts (reuse those that exist)
    inventories/local.py destroy --yes      remove the cluster's containers and volumes

The cluster is the one named in --spec or $VRE_SPEC (default: inventories/specs/local.yml).
"""

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from vrecloud import local  # noqa: E402
from vrecloud.inventory import host as host_vars  # noqa: E402
from vrecloud.spec import SpecError, load_spec  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--host")
    sub = parser.add_subparsers(dest="command")
    p_prov = sub.add_parser("provision", help="create the spec's hosts, reuse those that exist")
    p_prov.add_argument("--spec")
    p_destroy = sub.add_parser("destroy", help="remove the cluster's containers and volumes")
    p_destroy.add_argument("--spec")
    p_destroy.add_argument("--yes", action="store_true", help="really remove (required)")
    args = parser.parse_args()
    spec_path = getattr(args, "spec", None) or os.environ.get(
        "VRE_SPEC", str(ROOT / "inventories/specs/local.yml")
    )
    try:
        spec = load_spec(spec_path)
        if args.command == "provision":
            hosts = local.up(spec)
            inv = local.inventory(hosts)
            created = sorted(h["name"] for h in hosts if h["created"])
            report = {
                "provider": "local",
                "cluster": spec.cluster,
                "changed": bool(created),
                "created": created,
                "reused": sorted(h["name"] for h in hosts if not h["created"]),
                "hosts": inv["_meta"]["hostvars"],
            }
            print(json.dumps(report, indent=2))
            return 0
        if args.command == "destroy":
            if not args.yes:
                print(
                    f"inventories/local.py: destroy removes cluster {spec.cluster!r}: add --yes",
                    file=sys.stderr,
                )
                return 2
            removed = local.down(spec.cluster)
            print(
                json.dumps({"cluster": spec.cluster, "changed": bool(removed), "removed": removed}, indent=2)
            )
            return 0
        hosts = local.list_hosts(spec.cluster) if local.dockerd_answers() else []
    except (SpecError, local.ProviderError) as exc:
        print(f"inventories/local.py: {exc}", file=sys.stderr)
        return 1
    inv = local.inventory(hosts)
    if args.host:
        print(json.dumps(host_vars(inv, args.host)))
    else:
        print(json.dumps(inv, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

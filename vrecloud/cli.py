"""The command line every cloud inventory script shares (inventories/openstack.py, okeanos.py).

    SCRIPT --list                 Ansible's inventory contract: read only, creates nothing
    SCRIPT --host NAME            one host's variables
    SCRIPT provision [--spec F]   create what is missing, reuse what exists; JSON report on stdout
    SCRIPT destroy --yes [--spec F]
                                  delete exactly the cluster's servers, addresses, security group

The spec is --spec, else $VRE_SPEC, else inventories/specs/cloud.yml. Progress and errors go to
stderr; the exit status is 0 only when every host of the spec is ready (provision) or everything
was removed (destroy).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from vrecloud import provision as core
from vrecloud.spec import SpecError, load_spec, validate_for_cloud

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT / "inventories" / "specs" / "cloud.yml"


def _parser(provider: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"inventories/{provider}.py",
        description=f"Dynamic inventory and provisioning of the VRE cluster on {provider}.",
    )
    parser.add_argument("--list", action="store_true", help="print the inventory (Ansible calls this)")
    parser.add_argument("--host", help="print one host's variables")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("provision", help="create what is missing, reuse what exists")
    p.add_argument("--spec", help="cluster spec (default: $VRE_SPEC or inventories/specs/cloud.yml)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for ACTIVE (default 900)")
    p.add_argument("--ssh-timeout", type=float, default=300.0, help="seconds to wait for SSH (default 300)")
    p.add_argument("--poll", type=float, default=2.0, help="seconds between status polls (default 2)")
    p.add_argument("--workers", type=int, default=50, help="API calls in flight at once (default 50)")
    d = sub.add_parser("destroy", help="delete the cluster's servers and what was made for them")
    d.add_argument("--spec", help="cluster spec (default: $VRE_SPEC or inventories/specs/cloud.yml)")
    d.add_argument("--yes", action="store_true", help="really delete (required)")
    d.add_argument("--timeout", type=float, default=600.0)
    d.add_argument("--poll", type=float, default=2.0)
    return parser


def main(
    provider_name: str, make_provider: Callable[[], core.Provider], argv: Sequence[str] | None = None
) -> int:
    args = _parser(provider_name).parse_args(argv)
    spec_path = getattr(args, "spec", None) or os.environ.get("VRE_SPEC") or str(DEFAULT_SPEC)
    prog = f"inventories/{provider_name}.py"
    try:
        spec = load_spec(spec_path)
        if args.command == "provision":
            spec = validate_for_cloud(spec, provider_name)
            result = core.provision(
                spec,
                make_provider(),
                timeout=args.timeout,
                ssh_timeout=args.ssh_timeout,
                poll=args.poll,
                workers=args.workers,
            )
            report = result.summary()
            report["hosts"] = core.inventory(result.ready.values(), spec, provider_name)["_meta"]["hostvars"]
            print(json.dumps(report, indent=2))
            if result.failed:
                print(f"{prog}: {result.message()}", file=sys.stderr)
                return 1
            return 0
        if args.command == "destroy":
            if not args.yes:
                print(
                    f"{prog}: destroy deletes every server of cluster {spec.cluster!r}: add --yes",
                    file=sys.stderr,
                )
                return 2
            removed = core.destroy(spec.cluster, make_provider(), timeout=args.timeout, poll=args.poll)
            print(
                json.dumps({"cluster": spec.cluster, "changed": bool(removed), "removed": removed}, indent=2)
            )
            return 0
        spec = spec.for_provider(provider_name)
        inventory = core.inventory(make_provider().list_servers(spec.cluster), spec, provider_name)
    except (SpecError, core.ProvisionError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    if args.host:
        print(json.dumps(inventory["_meta"]["hostvars"].get(args.host, {})))
    else:
        print(json.dumps(inventory, indent=2))
    return 0

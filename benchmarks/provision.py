#!/usr/bin/env python3
"""Parallel provisioning against a cloud API test double, next to a one-at-a-time loop.

Starts the OpenStack (or Synnefo) test double from tests/doubles on loopback with a fixed boot
latency per VM, provisions N VMs with `vrecloud.provision` (create all, wait for ACTIVE, wait for
SSH), destroys them, then does the same N VMs one at a time (create one, wait until it is ACTIVE
and answers SSH, next). Prints both wall times and their ratio. The double is not a cloud: the
figure measures this code's concurrency against a fixed latency, not any real cloud's speed.

    python benchmarks/provision.py [--count 50] [--latency 2] [--provider openstack|okeanos]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[0] = str(ROOT)

from tests.doubles.harness import CloudHarness  # noqa: E402
from vrecloud import provision as core  # noqa: E402
from vrecloud.spec import load_spec, validate_for_cloud  # noqa: E402

warnings.filterwarnings("ignore", category=PendingDeprecationWarning)  # openstacksdk internals
core.log = lambda message: None  # quiet progress lines


def one_at_a_time(spec, provider, poll: float, timeout: float) -> None:
    provider.prepare(spec)
    for node in spec.nodes():
        server = provider.create_server(node, core.node_metadata(spec.cluster, node))
        deadline = time.monotonic() + timeout
        while True:
            current = next((s for s in provider.list_servers(spec.cluster) if s.id == server.id), None)
            if current is not None and current.status == core.ACTIVE:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"{node.name} did not become ACTIVE in {timeout}s")
            time.sleep(poll)
        core.wait_for_ssh(current.address, spec.ssh_port, timeout=timeout, interval=poll)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=50, help="VMs to provision (default 50)")
    parser.add_argument(
        "--latency", type=float, default=2.0, help="boot latency per VM in seconds (default 2)"
    )
    parser.add_argument("--provider", choices=["openstack", "okeanos"], default="openstack")
    parser.add_argument(
        "--poll", type=float, default=0.25, help="status poll interval, both runs (default 0.25)"
    )
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as tmp,
        CloudHarness(args.provider, Path(tmp), boot_latency=args.latency) as h,
    ):
        spec_path = h.write_spec("bench", {"nfs_clients": args.count})
        spec = validate_for_cloud(load_spec(spec_path), args.provider)
        timeout = max(60.0, args.latency * 5)

        provider = h.provider(workers=args.count)
        start = time.monotonic()
        result = core.provision(
            spec, provider, poll=args.poll, timeout=timeout, ssh_timeout=timeout, workers=args.count
        )
        parallel = time.monotonic() - start
        if result.failed or len(result.ready) != args.count:
            print(result.message(), file=sys.stderr)
            return 1
        start = time.monotonic()
        core.destroy(spec.cluster, provider, poll=args.poll)
        destroyed = time.monotonic() - start
        assert not h.fleet.vms, "destroy left servers behind"

        start = time.monotonic()
        one_at_a_time(spec, h.provider(workers=1), args.poll, timeout)
        sequential = time.monotonic() - start

    print(
        f"provision {args.count} VMs, {args.provider} test double, boot latency {args.latency:.1f} s per VM, "
        f"status poll every {args.poll:.2f} s"
    )
    print(
        f"  parallel (vrecloud.provision):           {parallel:7.2f} s   "
        f"({parallel / args.latency:.2f} x one boot; destroy took {destroyed:.2f} s)"
    )
    print(
        f"  one at a time (create, ACTIVE, SSH):      {sequential:7.2f} s   "
        f"({sequential / args.latency:.2f} x one boot)"
    )
    print(f"  ratio one-at-a-time / parallel:           {sequential / parallel:7.1f} x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

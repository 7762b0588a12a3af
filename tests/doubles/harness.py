"""One cloud test double plus what a test needs to point the provisioning code at it (test code).

with CloudHarness("openstack", tmp_path, boot_latency=0.2) as h:
    h.provider()            # a vrecloud provider talking to the double, in this process
    h.env                   # environment for the inventory scripts, in a subprocess
    h.write_spec(...)       # a cluster spec whose ssh_port is the double's SSH listeners
    h.provision(spec_path)  # vrecloud.provision of that spec against the double

A test module's fixture: `yield from checked_harness("okeanos", tmp_path, boot_latency=0.2)`, which
also fails the test when the client made a call the double does not model.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.doubles.openstack import OpenStackDouble
from tests.doubles.synnefo import SynnefoDouble
from vrecloud import provision as core
from vrecloud.spec import load_spec, validate_for_cloud

ROOT = Path(__file__).resolve().parents[2]
IMAGES = {"openstack": "debian-12", "okeanos": "Debian Base"}


class CloudHarness:
    def __init__(self, provider: str, workdir: Path, **double_args: Any) -> None:
        self.name = provider
        self.workdir = Path(workdir)
        if provider == "openstack":
            self.double: OpenStackDouble | SynnefoDouble = OpenStackDouble(**double_args)
        elif provider == "okeanos":
            self.double = SynnefoDouble(**double_args)
        else:
            raise ValueError(provider)
        self.fleet = self.double.fleet
        self.retry_pause = 0.01

    def __enter__(self) -> CloudHarness:
        self.double.start()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "OKEANOS_", "VRE_SPEC"))}
        if isinstance(self.double, OpenStackDouble):
            clouds = self.double.write_clouds_yaml(self.workdir / "clouds.yaml")
            self.env |= {"OS_CLIENT_CONFIG_FILE": str(clouds), "OS_CLOUD": "double"}
        else:
            self.env |= {"OKEANOS_URL": self.double.auth_url, "OKEANOS_TOKEN": self.double.token}
        self.env["HOME"] = str(self.workdir)  # no operator's ~/.kamakirc or clouds.yaml leaks in
        return self

    def __exit__(self, *exc: object) -> None:
        self.double.stop()
        self.fleet.close()

    # -- in-process -----------------------------------------------------------------------------

    def provision(self, spec_path: Path, **kw: Any) -> core.Result:
        """vrecloud.provision of the spec at `spec_path` against the double, with short polls."""
        spec = validate_for_cloud(load_spec(spec_path), self.name)
        kw = {"poll": 0.05, "timeout": 10.0, "ssh_timeout": 3.0} | kw
        return core.provision(spec, self.provider(), **kw)

    def provider(self, workers: int = 50) -> Any:
        if isinstance(self.double, OpenStackDouble):
            from vrecloud.openstack import OpenStackProvider, connect

            conn = connect("double", config_files=[self.env["OS_CLIENT_CONFIG_FILE"]])
            return OpenStackProvider(connection=conn, workers=workers, api=self.api("OpenStack"))
        from vrecloud.okeanos import OkeanosProvider
        from vrecloud.synnefo import SynnefoClient

        client = SynnefoClient(self.double.auth_url, self.double.token)
        return OkeanosProvider(client=client, api=self.api("~okeanos"))

    def api(self, cloud: str) -> Any:
        """The providers' own ApiCaller with their own rules, pausing `retry_pause` seconds between
        attempts instead of seconds (set it before calling `provider`)."""
        from vrecloud import apicall, okeanos, openstack

        rules = {"OpenStack": openstack, "~okeanos": okeanos}[cloud]
        return apicall.ApiCaller(
            cloud, rules._transient, rules._explain, first_pause=self.retry_pause, max_pause=self.retry_pause
        )

    # -- specs and scripts ----------------------------------------------------------------------

    def spec_data(self, cluster: str, groups: dict[str, Any], **top: Any) -> dict[str, Any]:
        data = {
            "cluster": cluster,
            "ssh_key": "vre-key",
            "ssh_port": self.double.ssh_port,
            "network": "vre-net",
            "defaults": {"image": IMAGES, "cpus": 1, "ram": 1024},
            "groups": groups,
        }
        data.update(top)
        return data

    def write_spec(self, cluster: str, groups: dict[str, Any], **top: Any) -> Path:
        path = self.workdir / f"{cluster}.yml"
        path.write_text(yaml.safe_dump(self.spec_data(cluster, groups, **top), sort_keys=False))
        return path

    def run(
        self, *args: str, spec: Path | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run inventories/<provider>.py with `args` against the double."""
        env = dict(self.env)
        if spec is not None:
            env["VRE_SPEC"] = str(spec)
        return subprocess.run(
            [sys.executable, str(ROOT / "inventories" / f"{self.name}.py"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def tagged(self, cluster: str) -> list[str]:
        """The names of the live VMs the provisioning code tagged as `cluster`'s, sorted."""
        return sorted(vm.name for vm in self.fleet.live() if vm.metadata.get(core.TAG_CLUSTER) == cluster)

    def cli(self, *args: str, spec: Path) -> subprocess.CompletedProcess[str]:
        """The inventory script's command line (vrecloud.cli) run in this process with this
        harness's provider: what `run` does, without a Python start-up per call."""
        from unittest import mock

        from vrecloud import cli

        out, err = io.StringIO(), io.StringIO()
        env = mock.patch.dict(os.environ, {"VRE_SPEC": str(spec)})
        with env, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(self.name, self.provider, list(args))
        return subprocess.CompletedProcess(["cli", *args], code, out.getvalue(), err.getvalue())

    def destroy(self, spec: Path) -> list[str]:
        """`destroy --yes` of the spec's cluster, which must succeed: what it says it removed."""
        proc = self.cli("destroy", "--yes", "--poll", "0.05", spec=spec)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)["removed"]

    def ansible_inventory(
        self, *args: str, spec: Path, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """`ansible-inventory -i inventories/<provider>.py ARGS`, as a user would run it."""
        bindir = str(Path(sys.executable).parent)
        env = dict(self.env, VRE_SPEC=str(spec), PATH=f"{bindir}:{self.env.get('PATH', '')}")
        env["ANSIBLE_CONFIG"] = str(ROOT / "ansible.cfg")
        env["ANSIBLE_LOCAL_TEMP"] = str(self.workdir / ".ansible-tmp")
        exe = shutil.which("ansible-inventory", path=env["PATH"]) or "ansible-inventory"
        return subprocess.run(
            [exe, "-i", str(ROOT / "inventories" / f"{self.name}.py"), *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def checked_harness(provider: str, workdir: Path, **double_args: Any) -> Iterator[CloudHarness]:
    """Body of a pytest fixture: the harness, then a failure if the client made calls the double
    does not model (they would otherwise pass unnoticed)."""
    with CloudHarness(provider, workdir, **double_args) as h:
        yield h
        assert h.double.unknown == [], f"client calls the double does not model: {h.double.unknown}"

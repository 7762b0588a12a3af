"""Filters of the bring-up's summary (role vre_summary): the smoke jobs' outcomes, their report
lines and the report itself, in Python rather than in loops of Jinja that would render to strings.

    {{ vre_smoke_tools | vre_smoke_outcomes(input_state, outputs, results, destinations,
                                            kube_events_json, slurm_job_record) }}
        -> {tool: {input, output, result, runner, node}}
    {{ outcomes | vre_smoke_lines(registry_address, galaxy_host) }}   -> the report's jobs lines
    {{ groups | vre_summary_lines(hostvars, addresses, registry_address, registry_port,
                                  shared_root) }}                    -> every line of the report

`outputs`, `results` and `destinations` are the `results` of the looped uri tasks (each item's
`item` chain leads back to the tool id). The node comes from the runner's own record: the
Scheduled event of the Kubernetes Job's pod, or Slurm's NodeList for the job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

PLACED = ("kubernetes", "slurm")  # runners whose jobs leave the Galaxy host: the node is named


def _tool_of(result: Mapping[str, Any]) -> str:
    item: Any = result.get("item")
    while isinstance(item, Mapping):
        item = item.get("item")
    return str(item or "")


def _by_tool(results: Any) -> dict[str, Mapping[str, Any]]:
    out: dict[str, Mapping[str, Any]] = {}
    for result in results or []:
        if isinstance(result, Mapping) and not result.get("skipped"):
            out[_tool_of(result)] = result
    return out


def _kube_node(events_json: Any, job_name: str) -> str:
    try:
        events = json.loads(events_json or "{}").get("items", [])
    except (TypeError, ValueError):
        return ""
    for event in events:
        name = str(event.get("involvedObject", {}).get("name", ""))
        match = re.match(r"^.* to (\S+)$", str(event.get("message", "")))
        if job_name and name.startswith(f"{job_name}-") and match:
            return match.group(1)
    return ""


def _slurm_node(record: Any) -> str:
    match = re.search(r"\bNodeList=(\S+)", str(record or ""))
    return "" if not match or match.group(1) == "(null)" else match.group(1)


def vre_smoke_outcomes(  # noqa: PLR0917 - a Jinja filter: its arguments come positionally
    tools: Sequence[str],
    input_state: Any,
    outputs: Any,
    results: Any,
    destinations: Any,
    kube_events_json: Any = "",
    slurm_job_record: Any = "",
) -> dict[str, dict[str, str]]:
    out_by, res_by, dest_by = _by_tool(outputs), _by_tool(results), _by_tool(destinations)
    outcomes = {}
    for tool in tools:
        dest = dest_by.get(tool, {}).get("json") or {}
        runner = re.sub(r":.*$", "", str(dest.get("Runner") or ""))
        job_id = str(dest.get("Runner Job ID") or "")
        node = ""
        if runner == "kubernetes":
            node = _kube_node(kube_events_json, job_id)
        elif runner == "slurm":
            node = _slurm_node(slurm_job_record)
        outcomes[tool] = {
            "input": str(input_state or "?"),
            "output": str((out_by.get(tool, {}).get("json") or {}).get("state") or "not run"),
            "result": str(res_by.get(tool, {}).get("content") or "").strip(),
            "runner": runner,
            "node": node,
        }
    return outcomes


def vre_smoke_lines(outcomes: Any, registry: str, galaxy_host: str) -> list[str]:
    lines = []
    for tool, job in (outcomes or {}).items():
        runner, node = job.get("runner", ""), job.get("node", "")
        if runner == "kubernetes":
            where = f"as a Kubernetes pod on {node}"
        elif runner == "slurm":
            where = f"through Slurm on {node}"
        else:
            where = f"on {galaxy_host} ({runner or '?'} runner)"
        ok = job.get("output") == "ok" and job.get("result") == "3" and (runner not in PLACED or node)
        if ok:
            text = (
                f"OK   {tool} ran {where} in {registry}/vre/busybox (pulled from the private registry): "
                f"{job['result']} lines, dataset ok"
            )
        else:
            text = (
                f"FAIL the smoke job {tool}: upload {job.get('input')}, output {job.get('output')}, "
                f"result {json.dumps(job.get('result'))}, runner {runner or '?'}"
                + (", no record names its node" if runner in PLACED and not node else "")
            )
        lines.append(f"jobs        {text}")
    return lines


# -- the report -------------------------------------------------------------------------------------
# Each service's line reads what its probe (roles/vre_summary/tasks/probes/) registered on its
# hosts: "<service>  OK   ..." or "<service>  FAIL ..." (the report's play fails on FAIL), or a
# plain statement for a layer without binaries. A service without hosts has no line.

_UP_SLURM = ("idle", "mixed", "allocated", "completing")
_ZK_MODES = ("leader", "follower", "standalone")


def _get(hostvars: Mapping[str, Any], host: str, *path: str, default: Any = None) -> Any:
    """hostvars[host][path...], or default where a key is missing (an unreached or skipped probe)."""
    value: Any = hostvars.get(host, {})
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return default
        value = value[key]
    return default if value is None else value


def _bool(value: Any) -> bool:
    return value.strip().lower() in ("true", "yes", "1", "on") if isinstance(value, str) else bool(value)


def _line(service: str, text: str) -> str:
    return f"{service:<12}{text}"


def _unique(items: Sequence[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


def _galaxy(g: list[str], hv: Mapping[str, Any]) -> str:
    answers = sum(1 for h in g if _get(hv, h, "vre_summary_galaxy", "status", default=0) == 200)
    if answers == len(g):
        version = _get(hv, g[0], "vre_summary_galaxy", "json", "version_major", default="?")
        return _line("galaxy", f"OK   {answers}/{len(g)} answer /api/version over TLS (version {version})")
    return _line("galaxy", f"FAIL /api/version answered on {answers} of {', '.join(g)}")


def _postgresql(g: list[str], hv: Mapping[str, Any]) -> str:
    if all(_get(hv, h, "vre_summary_postgresql", "rc", default=1) == 0 for h in g):
        return _line("postgresql", f"OK   accepting connections on {', '.join(g)}")
    return _line("postgresql", "FAIL pg_isready refused")


def _nfs(server: str, clients: list[str], hv: Mapping[str, Any], shared_root: str) -> str:
    state = _get(hv, server, "vre_summary_nfs", "status", "ActiveState")
    reading = sum(1 for h in clients if _get(hv, h, "vre_summary_nfs_client", "rc", default=1) == 0)
    if state == "active" and reading == len(clients):
        implementation = _get(hv, server, "nfs_server_implementation", default="kernel")
        return _line(
            "nfs",
            f"OK   {server} serves {shared_root}/galaxy ({implementation}); "
            f"{reading}/{len(clients)} clients read it over NFS",
        )
    return _line(
        "nfs", f"FAIL server {'unreachable' if state is None else state}, or a client cannot read the export"
    )


def _registry(host: str, address: str, port: Any, hv: Mapping[str, Any]) -> str:
    status = _get(hv, host, "vre_summary_registry", "status")
    if status == 200:
        repositories = _get(hv, host, "vre_summary_registry", "json", "repositories", default=[])
        return _line(
            "registry",
            f"OK   https://{address}:{port} answers the pull account; "
            f"repositories: {', '.join(repositories) or 'none'}",
        )
    return _line("registry", f"FAIL the registry API did not answer ({status or 'no status'})")


def _docker(hosts: list[str], hv: Mapping[str, Any]) -> str:
    if all(_get(hv, h, "vre_summary_docker", "rc", default=1) == 0 for h in hosts):
        return _line("docker", f"OK   engines answer on {', '.join(hosts)}")
    return _line("docker", "FAIL an engine did not answer")


def _zookeeper(zk: list[str], hv: Mapping[str, Any]) -> str:
    modes = [str(_get(hv, h, "vre_summary_zookeeper", "stdout", default="")) for h in zk]
    if all(m in _ZK_MODES for m in modes):
        return _line(
            "zookeeper", f"OK   {len(zk)} member(s) answer, modes: {', '.join(m or '?' for m in modes)}"
        )
    return _line("zookeeper", "FAIL a member did not answer srvr")


def _mesos(mesos: list[str], answering: list[str], hv: Mapping[str, Any]) -> str:
    if not _bool(_get(hv, mesos[0], "mesos_install_binaries", default=True)):
        return _line(
            "mesos",
            f"NO-BINARY MODE: users, flags, credentials and units on {', '.join(mesos)}; Mesos and Chronos "
            "are not installed (no binaries reachable; set VRE_MESOS_MIRROR, see docs/mesos.md)",
        )
    answers = [r for h in answering for r in _get(hv, h, "vre_summary_mesos", "results", default=[])]
    if all(isinstance(r, Mapping) and r.get("status") == 200 for r in answers):
        return _line("mesos", "OK   masters and Chronos answer their health endpoints")
    return _line("mesos", "FAIL a Mesos master or Chronos did not answer")


def _kubernetes(kube: list[str], hv: Mapping[str, Any]) -> str:
    if not _bool(_get(hv, kube[0], "kubernetes_install_binaries", default=True)):
        states = _unique(
            [_get(hv, h, "vre_summary_containerd", "status", "ActiveState", default="?") for h in kube]
        )
        return _line(
            "kubernetes",
            f"NO-BINARY MODE: containerd {'/'.join(states)} on {', '.join(kube)}; kubeadm, kubelet and "
            "kubectl are not installed (no binaries reachable; set VRE_KUBE_MIRROR, see docs/kubernetes.md)",
        )
    try:
        nodes = json.loads(_get(hv, kube[0], "vre_summary_kube_nodes", "stdout", default="") or "{}").get(
            "items", []
        )
    except ValueError:
        nodes = []
    ready = sum(
        1
        for n in nodes
        if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in n.get("status", {}).get("conditions", [])
        )
    )
    names = [str(n.get("metadata", {}).get("name", "")) for n in nodes]
    if ready == len(kube):
        versions = _unique(
            [n.get("status", {}).get("nodeInfo", {}).get("kubeletVersion", "?") for n in nodes]
        )
        return _line(
            "kubernetes", f"OK   {ready}/{len(kube)} nodes Ready ({', '.join(versions)}): {', '.join(names)}"
        )
    return _line(
        "kubernetes", f"FAIL {ready}/{len(kube)} nodes Ready ({', '.join(names) or 'the API did not answer'})"
    )


def _slurm(controller: str, workers: list[str], hv: Mapping[str, Any]) -> str:
    if _get(hv, controller, "vre_summary_slurm", "rc", default=1) != 0:
        return _line("slurm", f"FAIL the controller {controller} did not answer sinfo")
    states = dict(
        line.split()[:2]
        for line in _get(hv, controller, "vre_summary_slurm", "stdout_lines", default=[])
        if len(line.split()) >= 2
    )
    up = sum(1 for w in workers if states.get(w) in _UP_SLURM)
    listing = ", ".join(f"{w} ({states.get(w, 'not in sinfo')})" for w in workers)
    verdict = "OK   " if up == len(workers) else "FAIL "
    return _line("slurm", f"{verdict}{up}/{len(workers)} nodes up, controller {controller}: {listing}")


def _target(target: Mapping[str, Any]) -> str:
    labels = target.get("labels") or {}
    where = labels.get("host", target.get("scrapeUrl", "?"))
    return f"{labels.get('job', '?')} on {where} ({target.get('health', '?')})"


def _monitoring(host: str, url: str, hv: Mapping[str, Any]) -> str:
    if _get(hv, host, "vre_summary_monitoring", "status") != 200:
        return _line("monitoring", f"FAIL Prometheus {url} on {host} did not answer")
    targets = _get(hv, host, "vre_summary_monitoring", "json", "data", "activeTargets", default=[])
    down = [_target(t) for t in targets if t.get("health") != "up"]
    up = len(targets) - len(down)
    where = f"Prometheus {url} on {host} (cluster network only): {up}/{len(targets)} targets up"
    if targets and not down:
        return _line("monitoring", f"OK   {where}")
    return _line("monitoring", f"FAIL {where}; not up: {', '.join(down) or 'no targets'}")


def vre_summary_lines(  # noqa: PLR0917 - a Jinja filter: its arguments come positionally
    groups: Mapping[str, Sequence[str]],
    hostvars: Mapping[str, Any],
    addresses: Mapping[str, str],
    registry_address: str,
    registry_port: Any,
    shared_root: str,
    prometheus_url: str = "",
) -> list[str]:
    """The report: Galaxy's address and credentials, its health line, the smoke jobs' lines, then
    one line per service deployed."""

    def group(name: str) -> list[str]:
        return list(groups.get(name) or [])

    g, reg, nfs, clients = group("galaxy"), group("registry"), group("nfs_server"), group("nfs_clients")
    zk = group("zookeeper") or group("mesos_masters")
    mesos = group("mesos_masters") + group("mesos_slaves")
    kube = _unique(group("kube_control_plane") + group("kube_nodes"))
    docker_hosts = _unique(group("mesos_slaves") + group("slurm_workers") + g)
    lines: list[str] = []
    if g:
        lines.append(
            f"Galaxy:     https://{addresses[g[0]]}/ (host {g[0]}); admin API key in "
            f"/root/galaxy-admin-api-key on {g[0]} (root only); TLS CA in /etc/galaxy/tls/ca.crt there"
        )
        lines.append(_galaxy(g, hostvars))
        lines += vre_smoke_lines(
            _get(hostvars, g[0], "vre_summary_smoke", "jobs", default={}), registry_address, g[0]
        )
        lines.append(_postgresql(g, hostvars))
    if nfs:
        lines.append(_nfs(nfs[0], clients, hostvars, shared_root))
    if reg:
        lines.append(_registry(reg[0], addresses[reg[0]], registry_port, hostvars))
    if docker_hosts:
        lines.append(_docker(docker_hosts, hostvars))
    if zk:
        lines.append(_zookeeper(zk, hostvars))
    if mesos:
        lines.append(_mesos(mesos, group("mesos_masters") + group("chronos"), hostvars))
    if kube:
        lines.append(_kubernetes(kube, hostvars))
    if group("slurm_controller") and group("slurm_workers"):
        lines.append(_slurm(group("slurm_controller")[0], group("slurm_workers"), hostvars))
    if group("monitoring"):
        lines.append(_monitoring(group("monitoring")[0], prometheus_url, hostvars))
    return lines


class FilterModule:
    """The summary's filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "vre_smoke_outcomes": vre_smoke_outcomes,
            "vre_smoke_lines": vre_smoke_lines,
            "vre_summary_lines": vre_summary_lines,
        }

"""Filters of the bring-up's summary (playbooks/summary.yml): the smoke jobs' outcomes and their
report lines, in Python rather than in loops of Jinja that would render to strings.

    {{ vre_smoke_tools | vre_smoke_outcomes(input_state, outputs, results, destinations,
                                            kube_events_json, slurm_job_record) }}
        -> {tool: {input, output, result, runner, node}}
    {{ outcomes | vre_smoke_lines(registry_address, galaxy_host) }}   -> the report's jobs lines

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


class FilterModule:
    """The summary's filters."""

    def filters(self) -> dict[str, Callable[..., Any]]:
        return {"vre_smoke_outcomes": vre_smoke_outcomes, "vre_smoke_lines": vre_smoke_lines}

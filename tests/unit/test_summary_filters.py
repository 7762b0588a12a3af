"""The summary's smoke-job filters (filter_plugins/summary.py), fed what the looped uri tasks of
playbooks/summary.yml register."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("summary_filters", ROOT / "filter_plugins" / "summary.py")
summary = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(summary)

TOOLS = ["vre_line_count", "vre_line_count_slurm"]
RUNS = [{"item": tool, "json": {"outputs": [{"id": f"o-{tool}"}]}} for tool in TOOLS]
OUTPUTS = [{"item": run, "json": {"state": "ok"}} for run in RUNS]
RESULTS = [{"item": out, "content": "3\n"} for out in OUTPUTS]
DESTINATIONS = [
    {"item": RUNS[0], "json": {"Runner": "kubernetes://", "Runner Job ID": "gxy-galaxy-abc12"}},
    {"item": RUNS[1], "json": {"Runner": "slurm://", "Runner Job ID": "17"}},
]
EVENTS = json.dumps(
    {
        "items": [
            {
                "involvedObject": {"name": "gxy-other-x1"},
                "message": "Successfully assigned galaxy/x to elsewhere",
            },
            {
                "involvedObject": {"name": "gxy-galaxy-abc12-q9z"},
                "message": "Successfully assigned galaxy/gxy-galaxy-abc12-q9z to vre-kube-nodes-1",
            },
        ]
    }
)
SLURM = "JobId=17 JobName=g1 UserId=galaxy(1450) JobState=COMPLETED NodeList=vre-mesos-slaves-1 BatchHost=x"


def test_outcomes_name_each_jobs_runner_and_node():
    out = summary.vre_smoke_outcomes(TOOLS, "ok", OUTPUTS, RESULTS, DESTINATIONS, EVENTS, SLURM)
    assert out["vre_line_count"] == {
        "input": "ok",
        "output": "ok",
        "result": "3",
        "runner": "kubernetes",
        "node": "vre-kube-nodes-1",
    }
    assert out["vre_line_count_slurm"]["runner"] == "slurm"
    assert out["vre_line_count_slurm"]["node"] == "vre-mesos-slaves-1"
    lines = summary.vre_smoke_lines(out, "10.0.0.5:5000", "vre-galaxy-1")
    assert lines == [
        "jobs        OK   vre_line_count ran as a Kubernetes pod on vre-kube-nodes-1 in "
        "10.0.0.5:5000/vre/busybox (pulled from the private registry): 3 lines, dataset ok",
        "jobs        OK   vre_line_count_slurm ran through Slurm on vre-mesos-slaves-1 in "
        "10.0.0.5:5000/vre/busybox (pulled from the private registry): 3 lines, dataset ok",
    ]


def test_a_job_without_a_node_record_or_a_wrong_result_fails():
    out = summary.vre_smoke_outcomes(
        TOOLS, "ok", OUTPUTS, RESULTS, DESTINATIONS, "", "JobId=17 NodeList=(null)"
    )
    lines = summary.vre_smoke_lines(out, "r:5000", "g")
    assert all(" FAIL the smoke job " in line and "no record names its node" in line for line in lines)
    wrong = [{"item": OUTPUTS[0], "content": "2"}]
    out = summary.vre_smoke_outcomes(TOOLS[:1], "ok", OUTPUTS, wrong, DESTINATIONS, EVENTS, "")
    (line,) = summary.vre_smoke_lines(out, "r:5000", "g")
    assert 'FAIL the smoke job vre_line_count: upload ok, output ok, result "2", runner kubernetes' in line


def test_a_job_on_the_galaxy_host_and_a_job_not_run():
    local = [{"item": RUNS[0], "json": {"Runner": "local://", "Runner Job ID": "9"}}]
    out = summary.vre_smoke_outcomes(TOOLS, "ok", OUTPUTS[:1], RESULTS[:1], local)
    lines = summary.vre_smoke_lines(out, "r:5000", "vre-galaxy-1")
    assert lines[0].startswith(
        "jobs        OK   vre_line_count ran on vre-galaxy-1 (local runner) in r:5000/"
    )
    assert (
        lines[1] == "jobs        FAIL the smoke job vre_line_count_slurm: "
        'upload ok, output not run, result "", runner ?'
    )

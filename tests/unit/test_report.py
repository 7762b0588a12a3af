"""vrecloud.report against a double of Galaxy's jobs API (tests/doubles/galaxy_jobs.py): a few hundred
jobs of several users and tools read page by page, their figures summed per user and tool as
table, CSV and JSON, and the refusals an operator meets said in one line."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter

import pytest

from tests.doubles.galaxy_jobs import GalaxyJobsDouble
from vrecloud import report

USERS = ["ann@example.org", "bob@example.org", "cy@example.org"]
TOOLS = [
    "cat1",
    "vre_line_count",
    "vre_line_count_slurm",
    "toolshed.g2.bx.psu.edu/repos/iuc/fastp/fastp/0.23",
]
COUNT = 300


def _metrics(i: int) -> dict[str, object]:
    """Job i's metrics: cgroup v1 for a third, v2 for a third, none (a destination without a
    cgroup of its own) for the rest; every job has the core plugin's figures."""
    m: dict[str, object] = {"runtime_seconds": 2 + i % 7, "galaxy_slots": 1 + i % 2, "galaxy_memory_mb": 1024}
    if i % 3 == 0:
        m |= {"cpuacct.usage": (1 + i % 5) * 10**9, "memory.max_usage_in_bytes": (10 + i % 11) * 2**20}
    elif i % 3 == 1:
        m |= {"cpu.stat.usage_usec": (1 + i % 5) * 10**6, "memory.peak": (10 + i % 11) * 2**20}
    m["hostname"] = f"worker-{i % 2}"
    return m


@pytest.fixture
def galaxy():
    with GalaxyJobsDouble() as double:
        for i in range(COUNT):
            state = "error" if i % 10 == 9 else "ok"
            double.add_job(USERS[i % 3], TOOLS[i % 4], state, _metrics(i), minute=i)
        yield double


def _expected():
    """What the report must say, computed from the jobs the double holds."""
    out: dict[tuple[str, str], dict[str, object]] = {}
    for i in range(COUNT):
        key = (USERS[i % 3], TOOLS[i % 4])
        row = out.setdefault(key, {"jobs": 0, "states": Counter(), "wall": 0.0, "cpu": None, "peak": None})
        m = _metrics(i)
        row["jobs"] += 1
        row["states"]["error" if i % 10 == 9 else "ok"] += 1
        row["wall"] += m["runtime_seconds"]
        cpu = m["cpuacct.usage"] / 1e9 if "cpuacct.usage" in m else m.get("cpu.stat.usage_usec", None)
        if isinstance(cpu, int):
            cpu = cpu / 1e6
        if cpu is not None:
            row["cpu"] = (row["cpu"] or 0.0) + cpu
        peak = m.get("memory.max_usage_in_bytes", m.get("memory.peak"))
        if peak is not None:
            row["peak"] = max(row["peak"] or 0, peak)
    return out


def _client(galaxy, key=None):
    return report.GalaxyClient(galaxy.url, key or galaxy.admin_key)


def test_every_job_is_read_once_page_by_page(galaxy):
    jobs = report.collect(_client(galaxy), page_size=40, workers=4)
    assert len(jobs) == COUNT and len({j.id for j in jobs}) == COUNT
    pages = [p for m, p in galaxy.log if p == "/api/jobs"]
    assert len(pages) == math.ceil(COUNT / 40) + (COUNT % 40 == 0)
    assert sum(1 for m, p in galaxy.log if p.endswith("/metrics")) == COUNT


def test_sums_per_user_and_tool_match_the_jobs(galaxy):
    usage = report.per_user_and_tool(report.collect(_client(galaxy), page_size=100))
    expected = _expected()
    assert {(u.user, u.tool) for u in usage} == set(expected)
    for u in usage:
        want = expected[(u.user, u.tool)]
        assert u.jobs == want["jobs"] and u.states == dict(want["states"])
        assert u.runtime_s == pytest.approx(want["wall"])
        assert u.cpu_s == pytest.approx(want["cpu"])
        assert u.peak_memory_bytes == want["peak"]


def test_jobs_created_while_the_report_reads_shift_pages_but_none_is_lost_or_counted_twice(galaxy):
    added = []

    def users_keep_working(offset):
        if offset < 200:
            added.append(
                galaxy.add_job("dee@example.org", "cat1", "ok", {"runtime_seconds": 1}, minute=10_000)
            )

    galaxy.after_page = users_keep_working
    jobs = report.collect(_client(galaxy), page_size=50)
    ids = [j.id for j in jobs]
    assert len(ids) == len(set(ids)), "a job was counted twice"
    original = {f"{i + 1:016x}" for i in range(COUNT)}
    assert original <= set(ids), "a job that existed before the report started was skipped"


def test_the_period_selects_on_the_update_time(galaxy):
    since, until = galaxy.jobs[100]["update_time"], galaxy.jobs[199]["update_time"]
    jobs = report.collect(_client(galaxy), since=since, until=until, page_size=30)
    assert sorted(j.id for j in jobs) == sorted(j["id"] for j in galaxy.jobs[100:200])


def test_a_job_without_cgroup_figures_has_them_empty_not_zero(galaxy):
    jobs = {j.id: j for j in report.collect(_client(galaxy))}
    no_cgroup = jobs[f"{2 + 1:016x}"]  # job 2: i % 3 == 2
    assert no_cgroup.cpu_s is None and no_cgroup.peak_memory_bytes is None
    assert no_cgroup.runtime_s == 2 + 2 % 7 and no_cgroup.host == "worker-0" and no_cgroup.cores == 1
    row = next(r for r in csv.DictReader(io.StringIO(report.render([no_cgroup], "csv", "job"))))
    assert row["cpu_s"] == "" and row["peak_mem_mib"] == "" and row["wall_s"] == "4.0"


def test_table_csv_and_json_say_the_same(galaxy):
    jobs = report.collect(_client(galaxy))
    table = report.render(jobs, "table")
    assert table.splitlines()[-1] == f"{COUNT} job(s), 3 user(s), 4 tool(s)"
    rows = list(csv.DictReader(io.StringIO(report.render(jobs, "csv"))))
    data = json.loads(report.render(jobs, "json"))
    assert len(rows) == len(data["usage"]) == 12 and len(data["jobs"]) == COUNT
    ann_cat = next(r for r in rows if r["user"] == USERS[0] and r["tool"] == TOOLS[0])
    ann_json = next(u for u in data["usage"] if u["user"] == USERS[0] and u["tool"] == TOOLS[0])
    assert int(ann_cat["jobs"]) == ann_json["jobs"] and float(ann_cat["wall_s"]) == ann_json["runtime_s"]
    assert ann_cat["user"] in table and "error:" in table


def test_the_command_prints_the_report(galaxy, tmp_path, capsys):
    key = tmp_path / "key"
    key.write_text(galaxy.admin_key + "\n")
    assert report.main(["--url", galaxy.url, "--key-file", str(key), "--format", "csv"], environ={}) == 0
    out = capsys.readouterr().out
    assert out.startswith("user,tool,jobs,states,wall_s,cpu_s,peak_mem_mib\n") and len(out.splitlines()) == 13


@pytest.mark.parametrize(
    ("args", "environ", "fragment"),
    [
        ([], {}, "no Galaxy URL: pass --url"),
        (["--url", "galaxy.example.org"], {"GALAXY_API_KEY": "k"}, "is not an http(s) URL"),
        (["--url", "http://127.0.0.1:9"], {}, "the API key is empty"),
        (
            ["--url", "http://127.0.0.1:9", "--key-file", "/nonexistent/key"],
            {},
            "--key-file /nonexistent/key",
        ),
        (["--url", "http://127.0.0.1:9"], {"GALAXY_API_KEY": "k"}, "did not answer"),
    ],
)
def test_bad_input_is_one_line_naming_what_to_fix(args, environ, fragment, capsys):
    assert report.main(args, environ=environ) == 1
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(("key", "fragment"), [("user-key", "HTTP 403"), ("wrong", "HTTP 401")])
def test_a_key_that_is_not_an_admins_is_refused_plainly(galaxy, key, fragment, capsys):
    assert report.main(["--url", galaxy.url], environ={"GALAXY_API_KEY": key}) == 1
    err = capsys.readouterr().err
    assert fragment in err and "needs an admin's key" in err


def test_the_local_vre_without_a_galaxy_host_is_one_line(monkeypatch, capsys):
    from vrecloud import local

    monkeypatch.setattr(local, "list_hosts", lambda cluster: [])
    assert report.main(["--local", "inventories/specs/local.yml"], environ={}) == 1
    assert "has no running Galaxy host: run ./vre up first" in capsys.readouterr().err
    assert report.main(["--local", "/nonexistent/spec.yml"], environ={}) == 1
    assert "not found" in capsys.readouterr().err

"""Accounting of a Galaxy's jobs: per user and per tool, what they ran and what it consumed.

    python -m vrecloud.report --url https://galaxy.example.org --key-file ADMIN_KEY_FILE \\
        [--since 2026-12-01] [--until 2026-12-31] [--format table|csv|json] [--ca-file CA] \\
        [--per job|user-tool] [--page-size 500] [--workers 8]

Works against any Galaxy (the API of Galaxy 23 and later) with an admin's API key; `./vre report`
runs it against the local VRE. Python's standard library only, so it runs on any controller.

What it reads, through Galaxy's API:
- the jobs, page by page (`GET /api/jobs?view=admin_job_list`, `limit`/`offset`, newest first by
  creation time, so that jobs created while the report reads only shift rows to later pages; the
  period as Galaxy's `date_range_min`/`date_range_max`, which select on the jobs' update time,
  both ends included); a job met twice because the pages shifted is counted once;
- each job's metrics (`GET /api/jobs/{id}/metrics`, several at a time), as the job metrics plugins
  of the Galaxy's job_metrics configuration recorded them: the core plugin's runtime, cores and
  memory allocated; the hostname plugin's node; CPU time and peak memory from the cgroup plugin
  (cgroup v1 `cpuacct.usage`, `memory.max_usage_in_bytes`; v2 `cpu.stat.usage_usec`,
  `memory.peak`) where the destination ran the job in a cgroup of its own. A figure the Galaxy did
  not record is empty, never a guess.

What it prints: per user and tool (or per job with `--per job`), the number of jobs, their states,
the wall time (the core plugin's runtime), the CPU time and the peak memory (the largest of the
jobs'), as an aligned table, CSV or JSON (JSON holds the jobs too). Errors (an unreachable Galaxy,
a refused key, a non-admin key) are one line naming what to fix, and exit 1.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import ssl
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_PAGE_SIZE = 500
DEFAULT_WORKERS = 8

# Metric names of Galaxy's job metrics plugins (galaxy.job_metrics.instrumenters).
CORE_RUNTIME = "runtime_seconds"
CORE_SLOTS = "galaxy_slots"
CORE_MEMORY_MB = "galaxy_memory_mb"
HOSTNAME = "hostname"
CPU_NS = "cpuacct.usage"  # cgroup v1, nanoseconds
CPU_USEC = "cpu.stat.usage_usec"  # cgroup v2, microseconds
PEAK_V1 = "memory.max_usage_in_bytes"
PEAK_V2 = "memory.peak"


class ReportError(RuntimeError):
    """One line for the operator: what failed and what to do."""


# --- Galaxy's API ------------------------------------------------------------------------------------


class GalaxyClient:
    """GET requests to Galaxy's API with an API key; thread-safe (one request per call)."""

    def __init__(
        self,
        url: str,
        key: str,
        ca_file: str | None = None,
        timeout: float = 60.0,
        ca_data: str | None = None,
    ) -> None:
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ReportError(f"--url {url!r} is not an http(s) URL of a Galaxy (https://galaxy.example.org)")
        if not key.strip():
            raise ReportError("the API key is empty: pass an admin's key with --key-file or $GALAXY_API_KEY")
        self.base = url.rstrip("/")
        self.key = key.strip()
        self.timeout = timeout
        https = parsed.scheme == "https"
        self.context = ssl.create_default_context(cafile=ca_file, cadata=ca_data) if https else None

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
        url = f"{self.base}{path}" + (f"?{query}" if query else "")
        request = urllib.request.Request(url, headers={"x-api-key": self.key, "Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout, context=self.context) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            if exc.code in (401, 403):
                raise ReportError(
                    f"{self.base} refused the API key for {path} (HTTP {exc.code}{detail}): the report needs "
                    "an admin's key (the user's email in the Galaxy's admin_users)"
                ) from None
            raise ReportError(f"{self.base}{path}: HTTP {exc.code}{detail}") from None
        except urllib.error.URLError as exc:
            raise ReportError(
                f"{self.base} did not answer ({exc.reason}): check --url and --ca-file"
            ) from None
        except (TimeoutError, json.JSONDecodeError) as exc:
            raise ReportError(f"{self.base}{path}: {exc}") from None


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return ""
    message = body.get("err_msg") or body.get("detail") if isinstance(body, dict) else None
    return f": {message}" if isinstance(message, str) and message else ""


def iter_jobs(
    client: GalaxyClient, since: str | None, until: str | None, page_size: int = DEFAULT_PAGE_SIZE
) -> Iterator[dict[str, Any]]:
    """Every job of the period, each once, newest first, a page of `page_size` per request."""
    seen: set[str] = set()
    offset = 0
    while True:
        page = client.get(
            "/api/jobs",
            {
                "view": "admin_job_list",
                "user_details": "true",
                "order_by": "create_time",
                "date_range_min": since,
                "date_range_max": until,
                "limit": page_size,
                "offset": offset,
            },
        )
        if not isinstance(page, list):
            raise ReportError(f"{client.base}/api/jobs answered {type(page).__name__}, not a list of jobs")
        for job in page:
            if job.get("id") not in seen:
                seen.add(job.get("id"))
                yield job
        if len(page) < page_size:
            return
        offset += page_size


def job_metrics(client: GalaxyClient, job_id: str) -> dict[str, str]:
    """The job's metrics as name -> raw value."""
    metrics = client.get(f"/api/jobs/{urllib.parse.quote(job_id)}/metrics") or []
    return {m["name"]: m.get("raw_value", "") for m in metrics if isinstance(m, dict) and "name" in m}


# --- figures -------------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass
class JobFigures:
    id: str
    user: str
    tool: str
    state: str
    created: str
    runtime_s: float | None
    cpu_s: float | None
    peak_memory_bytes: float | None
    cores: float | None
    memory_allocated_mb: float | None
    host: str

    @classmethod
    def from_api(cls, job: dict[str, Any], metrics: dict[str, str]) -> JobFigures:
        cpu = _number(metrics.get(CPU_NS))
        cpu_s = cpu / 1e9 if cpu is not None else None
        if cpu_s is None and (usec := _number(metrics.get(CPU_USEC))) is not None:
            cpu_s = usec / 1e6
        peak = _number(metrics.get(PEAK_V1))
        if peak is None:
            peak = _number(metrics.get(PEAK_V2))
        return cls(
            id=str(job.get("id", "")),
            user=str(job.get("user_email") or "(anonymous)"),
            tool=str(job.get("tool_id") or "?"),
            state=str(job.get("state") or "?"),
            created=str(job.get("create_time") or ""),
            runtime_s=_number(metrics.get(CORE_RUNTIME)),
            cpu_s=cpu_s,
            peak_memory_bytes=peak,
            cores=_number(metrics.get(CORE_SLOTS)),
            memory_allocated_mb=_number(metrics.get(CORE_MEMORY_MB)),
            host=str(metrics.get(HOSTNAME) or ""),
        )


@dataclass
class Usage:
    user: str
    tool: str
    jobs: int = 0
    states: dict[str, int] = field(default_factory=dict)
    runtime_s: float = 0.0
    cpu_s: float | None = None
    peak_memory_bytes: float | None = None

    def add(self, job: JobFigures) -> None:
        self.jobs += 1
        self.states[job.state] = self.states.get(job.state, 0) + 1
        self.runtime_s += job.runtime_s or 0.0
        if job.cpu_s is not None:
            self.cpu_s = (self.cpu_s or 0.0) + job.cpu_s
        if job.peak_memory_bytes is not None:
            self.peak_memory_bytes = max(self.peak_memory_bytes or 0.0, job.peak_memory_bytes)


def collect(
    client: GalaxyClient,
    since: str | None = None,
    until: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
    workers: int = DEFAULT_WORKERS,
) -> list[JobFigures]:
    """Every job of the period with its figures (metrics read `workers` at a time)."""
    jobs = list(iter_jobs(client, since, until, page_size))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        metrics = list(pool.map(lambda job: job_metrics(client, str(job["id"])), jobs))
    return [JobFigures.from_api(job, m) for job, m in zip(jobs, metrics, strict=True)]


def per_user_and_tool(jobs: Iterable[JobFigures]) -> list[Usage]:
    usage: dict[tuple[str, str], Usage] = {}
    for job in jobs:
        usage.setdefault((job.user, job.tool), Usage(job.user, job.tool)).add(job)
    return [usage[key] for key in sorted(usage)]


# --- output --------------------------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _mib(value: float | None) -> str:
    return "" if value is None else f"{value / 2**20:.1f}"


def _states(states: dict[str, int]) -> str:
    return " ".join(f"{state}:{n}" for state, n in sorted(states.items()))


USAGE_COLUMNS = ("user", "tool", "jobs", "states", "wall_s", "cpu_s", "peak_mem_mib")
JOB_COLUMNS = ("id", "user", "tool", "state", "created", "wall_s", "cpu_s", "peak_mem_mib", "cores", "host")


def _usage_rows(usage: list[Usage]) -> list[tuple[str, ...]]:
    return [
        (u.user, u.tool, str(u.jobs), _states(u.states), _seconds(u.runtime_s), _seconds(u.cpu_s),
         _mib(u.peak_memory_bytes))
        for u in usage
    ]  # fmt: skip


def _job_rows(jobs: list[JobFigures]) -> list[tuple[str, ...]]:
    return [
        (j.id, j.user, j.tool, j.state, j.created, _seconds(j.runtime_s), _seconds(j.cpu_s),
         _mib(j.peak_memory_bytes), "" if j.cores is None else f"{j.cores:g}", j.host)
        for j in jobs
    ]  # fmt: skip


def render(jobs: list[JobFigures], fmt: str, per: str = "user-tool") -> str:
    usage = per_user_and_tool(jobs)
    if fmt == "json":
        return json.dumps(
            {"usage": [asdict(u) for u in usage], "jobs": [asdict(j) for j in jobs]}, indent=2, sort_keys=True
        )
    columns, rows = (JOB_COLUMNS, _job_rows(jobs)) if per == "job" else (USAGE_COLUMNS, _usage_rows(usage))
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return out.getvalue()
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    total = sum(u.jobs for u in usage)
    lines.append(
        f"{total} job(s), {len({u.user for u in usage})} user(s), {len({u.tool for u in usage})} tool(s)"
    )
    return "\n".join(lines) + "\n"


# --- command line --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=env.get("GALAXY_URL", ""), help="the Galaxy's URL ($GALAXY_URL)")
    parser.add_argument(
        "--local",
        metavar="SPEC",
        help="the local provider's VRE of this cluster spec (its Galaxy host's address, admin key, CA)",
    )
    parser.add_argument("--key-file", help="a file holding an admin's API key (else $GALAXY_API_KEY)")
    parser.add_argument("--ca-file", help="the CA that signed the Galaxy's certificate (else the system's)")
    parser.add_argument("--since", help="jobs updated on or after this date or time (2026-12-01)")
    parser.add_argument("--until", help="jobs updated on or before this date or time")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--per", choices=("user-tool", "job"), default="user-tool")
    parser.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    args = parser.parse_args(argv)
    try:
        url, ca_data = args.url, None
        if args.local:
            url, key, ca_data = _local(args.local)
        elif args.key_file:
            try:
                key = Path(args.key_file).read_text()
            except OSError as exc:
                raise ReportError(f"--key-file {args.key_file}: {exc.strerror}") from None
        else:
            key = env.get("GALAXY_API_KEY", "")
        if not url:
            raise ReportError("no Galaxy URL: pass --url (or set $GALAXY_URL)")
        if args.page_size < 1 or args.workers < 1:
            raise ReportError("--page-size and --workers must be at least 1")
        client = GalaxyClient(url, key, ca_file=args.ca_file, ca_data=ca_data)
        jobs = collect(client, args.since, args.until, args.page_size, args.workers)
    except ReportError as exc:
        print(f"report: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(render(jobs, args.format, args.per))
    return 0


def _local(spec_path: str) -> tuple[str, str, str]:
    """`./vre report`: the URL, admin key and CA (PEM) of the local VRE's Galaxy, read from the
    Galaxy host where its galaxy role wrote them (/root/galaxy-admin-api-key, /etc/galaxy/tls/ca.crt)."""
    import subprocess

    from vrecloud import local
    from vrecloud.spec import SpecError, load_spec

    try:
        cluster = load_spec(spec_path).cluster
    except SpecError as exc:
        raise ReportError(str(exc)) from None
    hosts = [h for h in local.list_hosts(cluster) if "galaxy" in h["groups"] and h["running"]]
    if not hosts or not hosts[0]["address"]:
        raise ReportError(f"cluster {cluster} has no running Galaxy host: run ./vre up first")
    host = hosts[0]

    def read(path: str) -> str:
        proc = subprocess.run(
            ["docker", "exec", host["name"], "cat", path], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            why = proc.stderr.strip()
            raise ReportError(f"{host['name']}: cannot read {path} ({why}): run ./vre up first")
        return proc.stdout

    return f"https://{host['address']}", read("/root/galaxy-admin-api-key"), read("/etc/galaxy/tls/ca.crt")


if __name__ == "__main__":
    sys.exit(main())

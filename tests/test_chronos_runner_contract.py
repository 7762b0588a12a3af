"""The contract between Galaxy's Chronos job runner and Chronos, on the VRE's shared filesystem.

Galaxy's own ChronosJobRunner (galaxy-app, in the separate venv .venv-galaxy made by
tests/galaxy_venv.sh) submits a job for an OpenMinTeD-style job destination to the Chronos REST
API test double (tests/doubles/chronos_api.py), through the chronos-python client it imports. The
assertions are on what the double recorded: image, command, volumes on the shared filesystem,
CPU, memory, retries and the owner; then on malformed destinations being refused by the runner or
by the double.

`submit(...)` and `vre_contract_problems(...)` are the pieces the galaxy role's tests reuse with
the job destination that role renders.

The test is skipped, with the command to run, when .venv-galaxy is missing, unless
VRE_REQUIRE_GALAXY is set (CI sets it): then a missing venv is a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.doubles.chronos_api import ChronosApiDouble
from tests.galaxy_code import galaxy_python

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "tests" / "galaxy_driver" / "submit_chronos_job.py"

# The shared filesystem is vre_shared_root/galaxy (/srv/vre/galaxy), mounted at the same path on
# Galaxy and the slaves. The runner writes each job's script into the job's working directory on
# the share, so the tests root the share in a scratch directory: <tmp>/srv/vre/galaxy.
SHARE_SUFFIX = "srv/vre/galaxy"
IMAGE = "quay.io/biocontainers/coreutils:8.31--h14c3975_0"
OWNER = "galaxy@vre.example.org"
HTTP_USER, HTTP_PASSWORD = "galaxy", "chronos-contract-password"

# Plugin parameters (job_conf <plugin id="chronos" ...> params), as strings like Galaxy passes them.
RUNNER_PARAMS = {"owner": OWNER, "username": HTTP_USER, "password": HTTP_PASSWORD}


def openminted_destination(share: str) -> dict[str, str]:
    """The OpenMinTeD destination of D8.2 Annex B, on the VRE's share. The runner's `volumes` format
    is "hostPath:containerPath:mode[,...]" (galaxy.jobs.runners.chronos._parse_job_volumes_list)."""
    return {
        "docker_enabled": "true",
        "volumes": f"{share}:{share}:RW",
        "docker_memory": "2048",
        "docker_cpu": "2",
        "max_retries": "1",
    }


def _galaxy_venv_or_skip() -> Path:
    return galaxy_python()


class GalaxyDriver:
    """One long-running tests/galaxy_driver/submit_chronos_job.py in the Galaxy venv."""

    def __init__(self, python: Path) -> None:
        self.proc = subprocess.Popen(
            [str(python), str(DRIVER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the Galaxy driver exited (code {self.proc.poll()})"
        return json.loads(line)

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


@pytest.fixture(scope="module")
def galaxy():
    driver = GalaxyDriver(_galaxy_venv_or_skip())
    yield driver
    driver.close()


def submit(
    galaxy: GalaxyDriver,
    double: ChronosApiDouble,
    destination: dict[str, str],
    share: str,
    *,
    job_id: int = 42,
    containers: list[dict[str, str]] | None = None,
    command_line: str | None = None,
    monitor: bool = False,
    runner_params: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Have Galaxy's ChronosJobRunner queue one job against `double`; return the driver's report."""
    return galaxy.ask(
        {
            "runner_params": {
                "chronos": double.address,
                **(RUNNER_PARAMS if runner_params is None else runner_params),
            },
            "destination": destination,
            "tool": {
                "id": "cat1",
                "version": "1.0.0",
                "containers": [{"type": "docker", "identifier": IMAGE}] if containers is None else containers,
            },
            "command_line": command_line
            or f"cat '{share}/objects/a/dataset_1.dat' > '{share}/objects/b/dataset_2.dat'",
            "working_directory": f"{share}/jobs/000/{job_id}",
            "job_id": job_id,
            "monitor": monitor,
        }
    )


def vre_contract_problems(job: dict[str, Any], share: str) -> list[str]:
    """What makes a recorded Chronos job unusable on the VRE, as readable sentences (empty: none)."""
    problems = []
    container = job.get("container") or {}
    if container.get("type") != "DOCKER":
        problems.append(f"container type is {container.get('type')!r}, not DOCKER")
    if not container.get("image"):
        problems.append("no image")
    volumes = container.get("volumes") or []
    if not volumes:
        problems.append("no volume: the job cannot see the shared filesystem")
    for volume in volumes:
        host_path = volume.get("hostPath", "")
        if not (host_path == share or host_path.startswith(share + "/")):
            problems.append(f"volume {host_path!r} is not on the shared filesystem {share}")
        if volume.get("containerPath") != host_path:
            problems.append(
                f"volume {host_path!r} is mounted at {volume.get('containerPath')!r}, not the same path"
            )
    workdir = {p["key"]: p["value"] for p in container.get("parameters", [])}.get("workdir", "")
    if not workdir.startswith(share + "/"):
        problems.append(f"container workdir {workdir!r} is not on the shared filesystem")
    if not job.get("command", "").startswith("$SHELL " + share + "/"):
        problems.append(f"command {job.get('command')!r} does not run a script on the shared filesystem")
    env = {e["name"]: e["value"] for e in job.get("environmentVariables", [])}
    for name, key in (("GALAXY_SLOTS", "cpus"), ("GALAXY_MEMORY_MB", "mem")):
        if env.get(name) in (None, "null", ""):
            problems.append(
                f"{name} is {env.get(name)!r}: set docker_cpu and docker_memory in the destination"
            )
        elif float(env[name]) != float(job[key]):
            problems.append(f"{name}={env[name]} differs from the job's {key}={job[key]}")
    return problems


@pytest.fixture
def share(tmp_path) -> str:
    path = tmp_path / SHARE_SUFFIX
    path.mkdir(parents=True)
    return str(path)


@pytest.fixture
def destination(share) -> dict[str, str]:
    return openminted_destination(share)


@pytest.fixture
def chronos():
    with ChronosApiDouble(username=HTTP_USER, password=HTTP_PASSWORD, task_user="galaxy") as double:
        yield double


def test_the_openminted_destination_is_accepted_and_well_formed(galaxy, chronos, share, destination):
    report = submit(galaxy, chronos, destination, share)
    assert report["exception"] is None, report.get("traceback")
    assert report["errors"] == [], report["errors"]
    assert chronos.refused == [] and chronos.unknown == []
    assert report["queued_job_ids"] == ["galaxy-chronos-42"], "the runner watches the job it submitted"
    assert report["image"] == IMAGE, "Galaxy resolved the image from the tool's container requirement"

    (posted,) = chronos.accepted
    job = chronos.jobs["galaxy-chronos-42"]
    # Exactly what the runner posted (before the double filled Chronos' defaults).
    assert posted["name"] == "galaxy-chronos-42"
    assert posted["schedule"] == "R1//PT1S", "run once, now"
    assert posted["owner"] == OWNER
    assert posted["container"] == {
        "type": "DOCKER",
        "image": IMAGE,
        "volumes": [{"hostPath": share, "containerPath": share, "mode": "RW"}],
        "parameters": [{"key": "workdir", "value": f"{share}/jobs/000/42"}],
    }
    assert posted["cpus"] == 2.0 and posted["mem"] == 2048 and posted["disk"] == 256
    assert posted["retries"] == 1
    script = f"{share}/jobs/000/42/chronos_42.sh"
    assert posted["command"] == f"$SHELL {script}"
    # As Chronos stores it, and by the VRE's rules (share, same paths, resources in the env).
    assert vre_contract_problems(job, share) == []
    # The script the container runs is Galaxy's command line, which runs the tool's script.
    assert Path(script).read_text() == "#!/bin/bash\n" + report["runner_command_line"]
    assert "dataset_1.dat" in Path(share, "jobs/000/42/tool_script.sh").read_text()
    # The runner authenticated: httplib2 answered the 401 challenge with the plugin's credentials.
    assert chronos.unauthorized >= 1 and ("POST", "/v1/scheduler/iso8601") in chronos.requests


def test_the_runner_reads_the_job_state_back(galaxy, chronos, share, destination):
    report = submit(galaxy, chronos, destination, share, job_id=7, monitor=True)
    assert report["watched_after_check"] is True, "a job neither succeeded nor failed stays watched"
    assert report["states"] == ["running"]


def test_a_failed_job_is_reported_failed(galaxy, chronos, share, destination):
    chronos.outcomes["galaxy-chronos-8"] = False
    report = submit(galaxy, chronos, destination, share, job_id=8, monitor=True)
    assert report["states"] == ["error"]
    assert report["watched_after_check"] is False
    assert (
        Path(share, "jobs/000/8/galaxy_8.e").read_text() == "Job 'galaxy-chronos-8' failed more than 1 times."
    )


def test_a_succeeded_job_is_finished(galaxy, chronos, share, destination):
    chronos.outcomes["galaxy-chronos-9"] = True
    report = submit(galaxy, chronos, destination, share, job_id=9, monitor=True)
    assert report["states"] == ["ok"]
    assert report["finished"] == [True], "handed to the runner's finish queue"
    assert report["watched_after_check"] is False


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(
            ({"volumes": "/srv/galaxy/working_directory/"}, "ValueError"), id="D8.2-bare-volume-path"
        ),
        pytest.param(
            ({"docker_enabled": None}, "ChronosRunnerException: ChronosJobRunner needs 'docker_enabled'"),
            id="docker-not-enabled",
        ),
    ],
)
def test_malformed_destinations_are_refused_by_the_runner(galaxy, chronos, share, destination, case):
    change, expected = case
    changed = {k: v for k, v in {**destination, **change}.items() if v is not None}
    report = submit(galaxy, chronos, changed, share)
    assert report["exception"] is not None and expected in report["exception"], report
    assert chronos.accepted == [], "nothing may reach Chronos"


def test_a_tool_without_a_container_is_refused_by_the_runner(galaxy, chronos, share, destination):
    report = submit(galaxy, chronos, destination, share, containers=[])
    # The runner asks for the container's id without checking that one was found.
    assert report["exception"] is not None and "NoneType" in report["exception"], report
    assert chronos.accepted == []


def test_a_volume_mode_chronos_does_not_know_is_refused_by_the_double(galaxy, chronos, share, destination):
    report = submit(galaxy, chronos, {**destination, "volumes": f"{share}:{share}:rwx"}, share)
    # chronos-python raises, and the runner's decorator only logs it: the job is not watched.
    assert report["exception"] is None
    assert report["queued_job_ids"] == []
    assert any("No remaining Chronos servers" in e["message"] for e in report["errors"]), report["errors"]
    (refusal,) = chronos.refused
    assert "volume mode 'rwx'" in refusal.reason


def test_wrong_credentials_are_refused_by_the_double(galaxy, chronos, share, destination):
    report = submit(galaxy, chronos, destination, share, runner_params={**RUNNER_PARAMS, "password": "wrong"})
    assert report["queued_job_ids"] == []
    assert chronos.accepted == [] and chronos.unauthorized >= 1


def test_a_volume_off_the_share_is_caught_by_the_contract_check(galaxy, chronos, share, destination):
    # Chronos itself accepts any host path; the VRE's contract does not.
    volumes = f"/home/galaxy/data:/data:RW,{share}:{share}:RW"
    report = submit(galaxy, chronos, {**destination, "volumes": volumes}, share)
    assert report["exception"] is None and chronos.refused == []
    problems = vre_contract_problems(chronos.jobs["galaxy-chronos-42"], share)
    assert problems == [
        f"volume '/home/galaxy/data' is not on the shared filesystem {share}",
        "volume '/home/galaxy/data' is mounted at '/data', not the same path",
    ]


def test_missing_cpu_and_memory_reach_the_job_as_null(galaxy, chronos, share, destination):
    # Galaxy puts the raw docker_cpu/docker_memory params into GALAXY_SLOTS/GALAXY_MEMORY_MB; without
    # them Chronos stores the string "null" while the job gets the default resources.
    bare = {k: v for k, v in destination.items() if k not in ("docker_cpu", "docker_memory")}
    submit(galaxy, chronos, bare, share)
    problems = vre_contract_problems(chronos.jobs["galaxy-chronos-42"], share)
    assert "GALAXY_SLOTS is 'null': set docker_cpu and docker_memory in the destination" in problems


def test_the_double_refuses_what_chronos_refuses():
    """The double's own checks, without Galaxy (documents what a refusal looks like)."""
    import urllib.error
    import urllib.request

    with ChronosApiDouble() as double:

        def post(job: Any) -> int:
            req = urllib.request.Request(
                f"http://{double.address}/v1/scheduler/iso8601",
                data=json.dumps(job).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(req) as resp:
                    return resp.status
            except urllib.error.HTTPError as err:
                return err.code

        good = {"name": "j1", "command": "true", "schedule": "R1//PT1S", "container": {"image": "busybox"}}
        assert post(good) == 204
        assert post({**good, "name": "bad/name"}) == 400
        assert post({**good, "schedule": "tomorrow"}) == 400
        assert post({**good, "schedule": "R1/2001-01-01T00:00:00Z/PT1S"}) == 400
        assert post({k: v for k, v in good.items() if k != "command"}) == 400
        assert post({**good, "container": {"type": "DOCKER"}}) == 400
        assert (
            post({**good, "container": {"image": "x", "volumes": [{"hostPath": "/a", "mode": "RW"}]}}) == 400
        )
        assert post({**good, "uris": ["http://a"], "fetch": [{"uri": "http://a"}]}) == 400
        assert len(double.refused) == 7 and list(double.jobs) == ["j1"]

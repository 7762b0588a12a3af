"""Drive Galaxy's own ChronosJobRunner (galaxy.jobs.runners.chronos) for one job, outside Galaxy.

Runs in the Galaxy test venv (.venv-galaxy, see tests/galaxy_venv.sh), never in the toolkit's venv.
Reads JSON requests on stdin, one per line, and answers each with one line of JSON on stdout: the
report of what the runner did. Importing Galaxy takes seconds, so a test session keeps one driver
running for all its jobs. Exits at the end of its input.

Request::

    {"runner_params": {"chronos": "127.0.0.1:PORT", "owner": ..., "username": ..., "password": ...},
     "destination": {"docker_enabled": "true", "volumes": "...", "docker_memory": "2048", ...},
     "tool": {"id": "cat1", "version": "1.0",
              "containers": [{"type": "docker", "identifier": "busybox:1.36"}]},
     "command_line": "cat '/srv/vre/galaxy/...' > '/srv/vre/galaxy/...'",
     "working_directory": "/srv/vre/galaxy/jobs/000/42",
     "job_id": 42,
     "monitor": true}

What is Galaxy's and what is faked:

* Galaxy's code does the work: the runner is constructed with the plugin parameters of job_conf
  (as strings, the way Galaxy passes XML/YAML params), ``queue_job`` is the method Galaxy's job
  handler calls, and it runs Galaxy's ``prepare_job``, command building, container resolution
  (``ContainerFinder`` reading the tool's container requirement and the destination's
  ``docker_enabled``), ``_get_job_spec`` and the chronos-python client's HTTP calls. With
  ``monitor`` the runner's ``check_watched_item`` then reads the job back from Chronos once.
* Faked, minimally: the Galaxy application object (config flags, no database, job metrics
  without plugins) and the job wrapper, which hands over what Galaxy would have computed for a
  job of a tool (id, command line, working directory, no outputs to copy, no dependencies) and
  records the state changes the runner asks for. Nothing here builds or edits the Chronos job.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from types import SimpleNamespace
from typing import Any

from galaxy import model
from galaxy.job_metrics import JobMetrics
from galaxy.jobs import JobDestination
from galaxy.jobs.runners.chronos import ChronosJobRunner
from galaxy.tool_util.deps.container_classes import DOCKER_CONTAINER_TYPE
from galaxy.tool_util.deps.containers import ContainerFinder
from galaxy.tool_util.deps.dependencies import AppInfo
from galaxy.tool_util.deps.requirements import ContainerDescription


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[dict[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(
            {"logger": record.name, "level": record.levelname, "message": record.getMessage()}
        )


class FakeTool:
    """The parts of a Galaxy tool the runner reads: identity and its container requirement."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.id = spec["id"]
        self.old_id = spec["id"]
        self.version = spec.get("version", "1.0")
        self.profile = 21.01
        self.tool_dir = None
        self.requirements: list[Any] = []
        self.containers = [
            ContainerDescription(identifier=c["identifier"], type=c.get("type", DOCKER_CONTAINER_TYPE))
            for c in spec.get("containers", [])
        ]
        self.requires_galaxy_python_environment = False
        self.docker_env_pass_through: list[str] = []

    def find_output_def(self, name: str) -> None:
        return None


class FakeJobWrapper:
    """What Galaxy's JobWrapper hands a runner for a prepared job; records the runner's verdicts."""

    def __init__(self, app: Any, request: dict[str, Any], destination: JobDestination) -> None:
        self.app = app
        self.job_id = request["job_id"]
        self.working_directory = request["working_directory"]
        self.tool_working_directory = os.path.join(self.working_directory, "working")
        self.job_destination = destination
        self.tool = FakeTool(request["tool"])
        self._command_line = request["command_line"]
        self.runner_command_line: str | None = None
        # Shell and script settings as Galaxy's defaults have them.
        self.shell = "/bin/bash"
        self.strict_shell = False
        self.commands_in_new_shell = True
        self.is_cwl_job = False
        self.remote_command_line = False
        self.galaxy_lib_dir = None
        self.dependency_shell_commands: list[str] = []
        self.requires_containerization = False
        self.requires_setting_metadata = False
        self.guest_ports = None
        self.job_io = SimpleNamespace(check_job_script_integrity=False, get_output_fnames=lambda: [])
        self.container = None
        self.states: list[str] = []
        self.failure: str | None = None

    # Identity and state ------------------------------------------------------------------------
    def get_id_tag(self) -> str:
        return str(self.job_id)

    def get_state(self) -> str:
        return model.Job.states.QUEUED

    def get_job(self) -> Any:
        return SimpleNamespace(id=self.job_id, output_datasets=[], output_library_datasets=[])

    def change_state(self, state: str, *args: Any, **kwargs: Any) -> None:
        self.states.append(state)

    def fail(self, message: str, exception: bool = False, **kwargs: Any) -> None:
        self.failure = message

    # What Galaxy computed while preparing the job ------------------------------------------------
    def prepare(self) -> None:
        os.makedirs(self.tool_working_directory, exist_ok=True)

    def get_command_line(self) -> str:
        return self._command_line

    def get_destination_configuration(self, key: str, default: Any = None) -> Any:
        return self.job_destination.params.get(key, default)

    def container_monitor_command(self, container: Any) -> None:
        return None

    def tmp_directory(self) -> str:
        return os.path.join(self.working_directory, "tmp")

    def home_directory(self) -> str:
        return os.path.join(self.working_directory, "home")

    def set_container(self, container: Any) -> None:
        self.container = container


def fake_app() -> SimpleNamespace:
    """Galaxy's application object as far as the runner and command building read it."""
    return SimpleNamespace(
        config=SimpleNamespace(redact_email_in_job_name=True, cleanup_job="never"),
        model=SimpleNamespace(context=None),
        job_metrics=JobMetrics(),
        container_finder=ContainerFinder(AppInfo(involucro_auto_init=False)),
    )


def run(request: dict[str, Any]) -> dict[str, Any]:
    records = _Records()
    loggers = [logging.getLogger("galaxy"), logging.getLogger("chronos")]
    for logger in loggers:
        logger.addHandler(records)
        logger.setLevel(logging.DEBUG)
    report: dict[str, Any] = {"constructed": False, "exception": None}
    try:
        app = fake_app()
        runner = ChronosJobRunner(app, 1, **request["runner_params"])
        report["constructed"] = True
        destination = JobDestination(id="chronos_dest", runner="chronos", params=request["destination"])
        wrapper = FakeJobWrapper(app, request, destination)
        runner.queue_job(wrapper)
        queued = []
        while not runner.monitor_queue.empty():
            queued.append(runner.monitor_queue.get_nowait())
        report["queued_job_ids"] = [ajs.job_id for ajs in queued]
        report["image"] = wrapper.container.container_id if wrapper.container else None
        report["runner_command_line"] = wrapper.runner_command_line
        if request.get("monitor") and queued:
            # Marking a job finished hands it to the runner's worker queue; no worker runs here.
            runner.work_queue = SimpleNamespace(
                put=lambda item: report.setdefault("finished", []).append(True)
            )
            still_watched = runner.check_watched_item(queued[0])
            report["watched_after_check"] = still_watched is not None
        report["states"] = wrapper.states
        report["failure"] = wrapper.failure
    except Exception as exc:
        report["exception"] = f"{type(exc).__name__}: {exc}"
        report["traceback"] = traceback.format_exc()
    for logger in loggers:
        logger.removeHandler(records)
    report["errors"] = [r for r in records.records if r["level"] in ("ERROR", "CRITICAL")]
    return report


def main() -> int:
    out = sys.stdout
    sys.stdout = sys.stderr  # only reports go to stdout
    for line in sys.stdin:
        if line.strip():
            out.write(json.dumps(run(json.loads(line)), default=str) + "\n")
            out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())

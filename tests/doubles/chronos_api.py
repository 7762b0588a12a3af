"""Test double of the Chronos 3 REST API, not Chronos.

A threaded HTTP server on 127.0.0.1 that speaks the part of Chronos 3's REST API that Galaxy's
ChronosJobRunner uses through the chronos-python 1.x client (``scheduler_api_version='v1'``):

* ``POST /v1/scheduler/iso8601``        add or replace a scheduled job -> 204
* ``GET /v1/scheduler/jobs``            every job, as JSON (the runner reads ``name``,
                                       ``successCount``, ``errorCount`` and ``retries``)
* ``GET /v1/scheduler/jobs/search``     jobs whose name contains ``?name=`` (case-insensitive)
* ``DELETE /v1/scheduler/job/<name>``   remove a job -> 204; 400 when there is none
* ``PUT /v1/scheduler/job/<name>``      run a job now -> 204

It records every job it is sent (accepted in ``accepted``, refused in ``refused`` with the reason)
and checks posted jobs the way Chronos 3 does (Iso8601JobResource and JobDeserializer):

* the body is a JSON object with a string ``name`` matching ``[\\w\\s.#_-]+`` and a ``command``;
* ``schedule`` is an ISO 8601 repeating interval ``R[n]/[start]/<duration>`` whose start, when
  given, is at most a year in the past;
* ``uris`` and ``fetch`` are not both given;
* a ``container`` has an ``image``; its ``type`` is DOCKER or MESOS, its ``network`` HOST, BRIDGE or
  USER, every volume has a ``containerPath`` and a ``mode`` of RW or RO, every parameter a ``key``
  and a ``value``; every environment variable has a ``name`` and a ``value``.

Refusals answer 400 with Chronos' ``{"message": ..., "status": "Bad Request"}`` body. Where real
Chronos fails while deserialising (a missing ``name``, ``command``, ``image`` or ``containerPath``
makes its JobDeserializer throw), the exact status it answers may differ; the double answers 400.
Values are stored the way the deserialiser reads them: a JSON ``null`` environment value becomes
the string ``"null"``, ``cpus``/``mem``/``disk`` of 0 or missing take the scheduler defaults
(0.1, 128, 256), numeric strings are read as numbers.

With ``username`` and ``password`` set, every request needs HTTP basic authentication: others get
401 with ``WWW-Authenticate: Basic realm="Mesosphere"`` (Chronos' default realm), which is also what
makes httplib2 (the client under chronos-python) send its credentials.

Not modelled, answered 404 and listed in ``unknown``: everything else, e.g. dependency jobs,
``/v1/scheduler/graph/csv`` (the runner reads job state from ``/v1/scheduler/jobs``) and task
management. Nothing is ever scheduled or run: ``finish(name, succeeded)``, or ``outcomes[name] = succeeded``
before the job arrives, is how a test says what Mesos would have reported.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

JOB_NAME_RE = re.compile(r"[\w\s.#_-]+")
# R[n]/[start]/[duration]: Chronos' Iso8601Expressions.
SCHEDULE_RE = re.compile(r"R(?P<count>\d*)/(?P<start>[^/]*)/(?P<period>P\S+)")
DURATION_RE = re.compile(
    r"P(?!$)(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?"
)
CONTAINER_TYPES = {"DOCKER", "MESOS"}
NETWORK_MODES = {"HOST", "BRIDGE", "USER"}
VOLUME_MODES = {"RW", "RO"}
# Scheduler defaults (--mesos_task_cpu, --mesos_task_mem, --mesos_task_disk, --user, retries).
DEFAULT_CPUS, DEFAULT_MEM, DEFAULT_DISK, DEFAULT_RETRIES = 0.1, 128.0, 256.0, 2


class Refused(Exception):
    """A job Chronos would answer 400 for."""


@dataclass
class Refusal:
    body: Any
    reason: str


@dataclass
class ChronosApiDouble:
    username: str | None = None
    password: str | None = None
    task_user: str = "root"
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    unauthorized: int = 0
    # Jobs that "run" as soon as they are accepted: name -> succeeded (what Mesos would report).
    outcomes: dict[str, bool] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                double._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="chronos-double", daemon=True)

    # --- life cycle -----------------------------------------------------------------------------
    def __enter__(self) -> ChronosApiDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def address(self) -> str:
        """host:port, the form of the runner's `chronos` parameter."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    # --- what Mesos would have reported -----------------------------------------------------------
    def finish(self, name: str, succeeded: bool) -> None:
        with self._lock:
            job = self.jobs[name]
            job["successCount" if succeeded else "errorCount"] += 1
            now = datetime.now(UTC).isoformat()
            job["lastSuccess" if succeeded else "lastError"] = now

    # --- HTTP -------------------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        path = unquote(parts.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append((h.command, path))
        if not self._authorized(h.headers.get("Authorization")):
            with self._lock:
                self.unauthorized += 1
            self._reply(h, 401, b"", {"WWW-Authenticate": 'Basic realm="Mesosphere"'})
            return
        status, body, content_type = self._route(h.command, path, parse_qs(parts.query), raw)
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self._reply(h, status, data, {"Content-Type": content_type} if data else {})

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, data: bytes, headers: dict[str, str]) -> None:
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if data:
            h.wfile.write(data)

    def _authorized(self, header: str | None) -> bool:
        if not self.username:
            return True
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return (user, password) == (self.username, self.password)

    def _route(self, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> tuple[int, Any, str]:
        json_type = "application/json"
        if method == "POST" and path == "/v1/scheduler/iso8601":
            return self._post_job(raw)
        if method == "GET" and path == "/v1/scheduler/jobs":
            with self._lock:
                return 200, list(self.jobs.values()), json_type
        if method == "GET" and path == "/v1/scheduler/jobs/search":
            name = (query.get("name") or [""])[0].lower()
            with self._lock:
                return 200, [j for j in self.jobs.values() if name in j["name"].lower()], json_type
        match = re.fullmatch(r"/v1/scheduler/job/(?P<name>[^/]+)", path)
        if match and method in ("DELETE", "PUT"):
            name = match["name"]
            with self._lock:
                if name not in self.jobs:
                    return (
                        400,
                        {"message": f"JobSchedule '{name}' not found", "status": "Bad Request"},
                        json_type,
                    )
                if method == "DELETE":
                    del self.jobs[name]
            return 204, None, json_type
        with self._lock:
            self.unknown.append(f"{method} {path}")
        return 404, {"message": f"the Chronos test double does not model {method} {path}"}, json_type

    def _post_job(self, raw: bytes) -> tuple[int, Any, str]:
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            body = raw.decode(errors="replace")
        try:
            job = self._check_job(body)
        except Refused as exc:
            with self._lock:
                self.refused.append(Refusal(body, str(exc)))
            return 400, {"message": str(exc), "status": "Bad Request"}, "application/json"
        with self._lock:
            self.jobs[job["name"]] = job  # a job of the same name is replaced
            self.accepted.append(body)
        if job["name"] in self.outcomes:
            self.finish(job["name"], self.outcomes[job["name"]])
        return 204, None, "application/json"

    # --- the checks of Chronos 3 --------------------------------------------------------------------
    def _check_job(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise Refused(f"the job must be a JSON object, got {type(body).__name__}")
        name = body.get("name")
        if not isinstance(name, str) or not JOB_NAME_RE.fullmatch(name):
            raise Refused(f"the job's name is invalid. Allowed names: '{JOB_NAME_RE.pattern}' (got {name!r})")
        if body.get("command") is None:
            raise Refused("the job has no command (Chronos' JobDeserializer reads `command` unconditionally)")
        schedule = body.get("schedule", "R1//PT24H")
        if not isinstance(schedule, str):
            raise Refused(f"Cannot parse schedule '{schedule}'")
        self._check_schedule(schedule)
        if body.get("uris") and body.get("fetch"):
            raise Refused(f"Tried to add both uri (deprecated) and fetch parameters on {name}")
        job = {
            "name": name,
            "command": _text(body["command"]),
            "shell": _bool(body.get("shell"), True),
            "schedule": schedule,
            "scheduleTimeZone": _text(body.get("scheduleTimeZone", "")),
            "epsilon": _text(body.get("epsilon", "PT60S")),
            "executor": _text(body.get("executor", "")),
            "executorFlags": _text(body.get("executorFlags", "")),
            "retries": _int(body.get("retries"), DEFAULT_RETRIES),
            "owner": _text(body.get("owner", "")),
            "ownerName": _text(body.get("ownerName", "")),
            "description": _text(body.get("description", "")),
            "async": _bool(body.get("async"), False),
            "disabled": _bool(body.get("disabled"), False),
            "softError": _bool(body.get("softError"), False),
            "successCount": 0,
            "errorCount": 0,
            "lastSuccess": "",
            "lastError": "",
            "cpus": _number(body.get("cpus"), DEFAULT_CPUS),
            "mem": _number(body.get("mem"), DEFAULT_MEM),
            "disk": _number(body.get("disk"), DEFAULT_DISK),
            "uris": [_text(u) for u in body.get("uris") or []],
            "fetch": body.get("fetch") or [],
            "arguments": [_text(a) for a in body.get("arguments") or []],
            "environmentVariables": [self._env(e) for e in body.get("environmentVariables") or []],
            "highPriority": _bool(body.get("highPriority"), False),
            "runAsUser": _text(body["runAsUser"]) if body.get("runAsUser") is not None else self.task_user,
            "constraints": body.get("constraints") or [],
        }
        if "container" in body:
            job["container"] = self._container(body["container"])
        return job

    @staticmethod
    def _check_schedule(schedule: str) -> None:
        match = SCHEDULE_RE.fullmatch(schedule)
        if not match or not DURATION_RE.fullmatch(match["period"]):
            raise Refused(f"Cannot parse schedule '{schedule}' (wtf bro)")
        if match["start"]:
            try:
                start = datetime.fromisoformat(match["start"].replace("Z", "+00:00"))
            except ValueError:
                raise Refused(f"Cannot parse schedule '{schedule}' (wtf bro)") from None
            if start.tzinfo is None:
                start = start.replace(tzinfo=UTC)
            if start < datetime.now(UTC) - timedelta(days=365):
                raise Refused(f"Scheduled start date '{start.isoformat()}' is more than 1 year in the past!")

    @staticmethod
    def _env(entry: Any) -> dict[str, str]:
        if not isinstance(entry, dict) or "name" not in entry or "value" not in entry:
            raise Refused(f"an environment variable needs a name and a value, got {entry!r}")
        return {"name": _text(entry["name"]), "value": _text(entry["value"])}

    @staticmethod
    def _container(node: Any) -> dict[str, Any]:
        if not isinstance(node, dict):
            raise Refused(f"container must be an object, got {node!r}")
        if node.get("image") is None or _text(node["image"]) == "":
            raise Refused(
                "the container has no image (Chronos' JobDeserializer reads `image` unconditionally)"
            )
        ctype = _text(node.get("type") or "DOCKER").upper()
        if ctype not in CONTAINER_TYPES:
            raise Refused(f"container type {ctype!r} is not one of {sorted(CONTAINER_TYPES)}")
        network = _text(node.get("network") or "HOST")
        if network not in NETWORK_MODES:
            raise Refused(f"container network {network!r} is not one of {sorted(NETWORK_MODES)}")
        volumes = []
        for volume in node.get("volumes") or []:
            if not isinstance(volume, dict) or volume.get("containerPath") is None:
                raise Refused(f"every volume needs a containerPath, got {volume!r}")
            entry = {"containerPath": _text(volume["containerPath"])}
            if "hostPath" in volume:
                entry["hostPath"] = _text(volume["hostPath"])
            if "mode" in volume:
                mode = _text(volume["mode"]).upper()
                if mode not in VOLUME_MODES:
                    raise Refused(f"volume mode {volume['mode']!r} is not one of {sorted(VOLUME_MODES)}")
                entry["mode"] = mode
            volumes.append(entry)
        parameters = []
        for parameter in node.get("parameters") or []:
            if not isinstance(parameter, dict) or "key" not in parameter or "value" not in parameter:
                raise Refused(f"every container parameter needs a key and a value, got {parameter!r}")
            parameters.append({"key": _text(parameter["key"]), "value": _text(parameter["value"])})
        return {
            "type": ctype,
            "image": _text(node["image"]),
            "network": network,
            "volumes": volumes,
            "parameters": parameters,
            "forcePullImage": _text(node.get("forcePullImage", False)).lower() == "true",
        }


# Jackson's JsonNode.asText/asInt/asDouble/asBoolean, as Chronos' deserialiser uses them.
def _text(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return ""
    return str(value)


def _number(value: Any, default: float) -> float:
    try:
        number = float(value) if value is not None and not isinstance(value, bool | dict | list) else 0.0
    except ValueError:
        number = 0.0
    return number if number != 0 else default


def _int(value: Any, default: int) -> int:
    if value is None:
        return default
    try:
        return int(float(value)) if not isinstance(value, bool | dict | list) else 0
    except ValueError:
        return 0


def _bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value) if isinstance(value, int | float) else False

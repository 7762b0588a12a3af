"""Test double of the part of Galaxy's API the accounting report reads (not a real Galaxy).

`GET /api/jobs` as Galaxy 26.1 answers it (galaxy/webapps/galaxy/services/jobs.py): the
`admin_job_list` view and `user_details` for admins only (403 otherwise, as Galaxy's
AdminRequiredException), `order_by` create_time or update_time newest first, `date_range_min` /
`date_range_max` on the update time (both ends included), `limit` (default 500) and `offset`.
`GET /api/jobs/{id}/metrics`: the job's metrics as Galaxy's summarize_job_metrics gives them
(title, value, plugin, name, raw_value). An unknown key is refused with 401.

    with GalaxyJobsDouble(admin_key="a", user_key="u") as galaxy:
        galaxy.add_job(user="ann@example.org", tool="cat1", metrics={"runtime_seconds": "4"})
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from tests.doubles.http import HttpFault, JsonDouble, Reply, Request

EPOCH = datetime(2026, 12, 1, 8, 0, 0)
PLUGIN_OF = {
    "runtime_seconds": "core",
    "galaxy_slots": "core",
    "galaxy_memory_mb": "core",
    "start_epoch": "core",
    "end_epoch": "core",
    "hostname": "hostname",
}


class GalaxyJobsDouble(JsonDouble):
    label = "galaxy-jobs-double"

    def __init__(self, admin_key: str = "admin-key", user_key: str = "user-key") -> None:
        super().__init__()
        self.admin_key, self.user_key = admin_key, user_key
        self.jobs: list[dict[str, Any]] = []
        self.metrics: dict[str, dict[str, str]] = {}
        self.lock = threading.Lock()
        # Called after each /api/jobs page is served (a test adds jobs there, as users would).
        self.after_page: Any = None
        self.route("GET", r"/api/jobs", self._index)
        self.route("GET", r"/api/jobs/(?P<job_id>[^/]+)/metrics", self._metrics)

    def __enter__(self) -> GalaxyJobsDouble:
        return self.start()  # type: ignore[return-value]

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def add_job(
        self, user: str, tool: str, state: str = "ok", metrics: dict[str, Any] | None = None, minute: int = 0
    ) -> str:
        with self.lock:
            job_id = f"{len(self.jobs) + 1:016x}"
            created = EPOCH + timedelta(minutes=minute, seconds=len(self.jobs))
            self.jobs.append(
                {
                    "model_class": "Job",
                    "id": job_id,
                    "tool_id": tool,
                    "state": state,
                    "exit_code": 0 if state == "ok" else 1,
                    "create_time": created.isoformat(),
                    "update_time": (created + timedelta(seconds=30)).isoformat(),
                    "history_id": "f2db41e1fa331b3e",
                    "_user": user,
                }
            )
            self.metrics[job_id] = {k: str(v) for k, v in (metrics or {}).items()}
            return job_id

    def check_auth(self, req: Request) -> None:
        if req.headers.get("x-api-key") not in (self.admin_key, self.user_key):
            raise HttpFault(401, {"err_msg": "Provided API key is not valid.", "err_code": 403001})

    def _admin(self, req: Request) -> bool:
        return req.headers.get("x-api-key") == self.admin_key

    def _index(self, req: Request) -> Reply:
        view = req.arg("view", "collection")
        user_details = req.arg("user_details", "false") == "true"
        if not self._admin(req) and (view == "admin_job_list" or user_details):
            raise HttpFault(
                403, {"err_msg": "Only admins can use the admin_job_list view", "err_code": 403006}
            )
        order = req.arg("order_by", "update_time")
        low, high = req.arg("date_range_min"), req.arg("date_range_max")
        limit, offset = int(req.arg("limit", "500")), int(req.arg("offset", "0"))
        with self.lock:
            jobs = [
                j
                for j in self.jobs
                if (not low or j["update_time"] >= low) and (not high or j["update_time"] <= high)
            ]
            jobs.sort(key=lambda j: j[order], reverse=True)
            page = []
            for job in jobs[offset : offset + limit]:
                out = {k: v for k, v in job.items() if not k.startswith("_")}
                if view == "admin_job_list" or user_details:
                    out["user_email"] = job["_user"]
                page.append(out)
        if self.after_page is not None:
            self.after_page(offset)
        return Reply(200, page)

    def _metrics(self, req: Request, job_id: str) -> Reply:
        with self.lock:
            if job_id not in self.metrics:
                raise HttpFault(400, {"err_msg": "Invalid job id", "err_code": 400009})
            metrics = self.metrics[job_id]
        return Reply(
            200,
            [
                {
                    "title": name,
                    "value": value,
                    "plugin": PLUGIN_OF.get(name, "cgroup"),
                    "name": name,
                    "raw_value": value,
                }
                for name, value in metrics.items()
            ],
        )

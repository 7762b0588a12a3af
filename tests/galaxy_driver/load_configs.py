"""Load a rendered job_conf.yml and object_store_conf.yml with Galaxy's own code.

Runs inside the Galaxy test venv (.venv-galaxy, tests/galaxy_venv.sh), called by
tests/test_galaxy_config_loaders.py:

    python load_configs.py --job-conf J [--job-metrics-conf M] --object-store-conf O --work DIR

Prints one JSON report on stdout: {"job_conf": {...}, "object_store": {...}}, each with "ok" and
either what Galaxy built or the exception Galaxy raised. Exit status 0 either way (the test
asserts on the report); non-zero only when the driver itself breaks.

What "loads" means here:
  job_conf      galaxy.jobs.JobConfiguration parses the file (runners, handling, environments,
                tools); then every runner plugin is instantiated with Galaxy's own classes and
                the plugin parameters, so RunnerParams rejects unknown or malformed parameters.
                With --job-metrics-conf, galaxy.job_metrics.JobMetrics reads it first, and the
                report names each destination's metrics plugins (its own, or the file's).
                For the kubernetes runner only the API client construction is replaced (no
                cluster here); the chronos runner's client is chronos-python's, which does not
                connect at construction.
  object_store  galaxy.objectstore.build_object_store_from_config builds the store. For S3
                (boto3) the connection step (head_bucket/create_bucket) is replaced, the
                parsing is Galaxy's.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import traceback
from typing import Any


def _app(work: str, **config: Any):
    """Galaxy's unit-test app, its config backed by Galaxy's real configuration schema: options the
    mock does not define take Galaxy's defaults (GalaxyAppConfiguration)."""
    from galaxy.app_unittest_utils.galaxy_mock import MockApp, MockAppConfig
    from galaxy.config import GalaxyAppConfiguration

    real = GalaxyAppConfiguration(override_tempdir=False, data_dir=work, **config)
    MockAppConfig.__getattr__ = lambda self, name: getattr(real, name)  # type: ignore[method-assign]
    return MockApp(
        data_dir=work,
        file_path=f"{work}/objects",
        new_file_path=f"{work}/tmp",
        jobs_directory=f"{work}/jobs",
        object_store_cache_path=f"{work}/cache",
        **config,
    )


def load_job_conf(path: str, work: str, metrics_path: str | None = None) -> dict[str, Any]:
    from galaxy.job_metrics import JobMetrics
    from galaxy.jobs import JobConfiguration

    app = _app(work, job_config_file=path)
    app.job_metrics = JobMetrics(conf_file=metrics_path) if metrics_path else JobMetrics()
    conf = JobConfiguration(app)
    report: dict[str, Any] = {
        "default_destination": conf.default_destination_id,
        "destinations": {
            dest_id: {
                "runner": dests[0].runner,
                "params": dict(dests[0].params),
                "env": list(dests[0].env),
                "shell": dests[0].shell,
            }
            for dest_id, dests in conf.destinations.items()
        },
        "tools": {tool_id: tools[0].destination for tool_id, tools in conf.tools.items()},
        "runners": {},
        "metrics": {
            dest_id: [
                p.plugin_type for p in getattr(app.job_metrics.job_instrumenters[dest_id], "plugins", [])
            ]
            for dest_id in conf.destinations
        },
    }
    for plugin in conf.runner_plugins:
        module_name, class_name = plugin["load"].split(":")
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
        clients: list[str] = []
        if module_name.endswith(".kubernetes"):
            # No cluster here: keep Galaxy's parameter handling and its choice of credentials
            # (pykube_client_from_dict runs), replace only pykube's config loaders and client.
            from galaxy.jobs.runners.util import pykube_util

            class RecordingKubeConfig:
                @staticmethod
                def from_service_account(clients=clients):
                    clients.append("service_account")

                @staticmethod
                def from_file(path, clients=clients):
                    clients.append(f"kubeconfig:{path}")

            pykube_util.KubeConfig = RecordingKubeConfig
            pykube_util.HTTPClient = lambda config: None
            module.ensure_pykube = lambda: None
        runner = cls(app, int(plugin.get("workers", 1)), **dict(plugin["kwds"]))
        report["runners"][plugin["id"]] = {
            "class": f"{cls.__module__}.{cls.__name__}",
            "params": {k: v for k, v in dict(runner.runner_params).items() if k != "password"},
            "kube_clients": clients,
        }
    return report


def load_object_store(path: str, work: str) -> dict[str, Any]:
    from galaxy import objectstore

    try:
        from galaxy.objectstore import s3_boto3

        s3_boto3.S3ObjectStore._configure_connection = lambda self: None  # no S3 endpoint here
    except ImportError:
        pass
    from galaxy.config import GalaxyAppConfiguration

    config = GalaxyAppConfiguration(override_tempdir=False, data_dir=work, object_store_config_file=path)
    store = objectstore.build_object_store_from_config(config)

    def describe(s: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"class": type(s).__name__}
        if hasattr(s, "file_path"):
            out["files_dir"] = s.file_path
        if getattr(s, "extra_dirs", None):
            out["extra_dirs"] = dict(s.extra_dirs)
        if hasattr(s, "backends"):
            out["backends"] = {k: describe(v) for k, v in s.backends.items()}
        if hasattr(s, "bucket"):
            out["bucket"] = s.bucket if isinstance(s.bucket, str) else getattr(s.bucket, "name", None)
        return out

    return describe(store)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--job-conf")
    parser.add_argument("--job-metrics-conf")
    parser.add_argument("--object-store-conf")
    parser.add_argument("--work", required=True)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {}
    for key, path, loader in (
        ("job_conf", args.job_conf, lambda p, w: load_job_conf(p, w, args.job_metrics_conf)),
        ("object_store", args.object_store_conf, load_object_store),
    ):
        if not path:
            continue
        try:
            report[key] = {"ok": True, **loader(path, args.work)}
        except Exception as exc:
            report[key] = {
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}",
                "trace": traceback.format_exc(),
            }
    json.dump(report, sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())

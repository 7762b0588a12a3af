"""Build Galaxy's job and object store configurations from the galaxy role's variables.

The filters, used by roles/galaxy (templates, vars, validate.yml) and tested in
tests/test_galaxy_config_loaders.py (which loads their output with Galaxy's own loaders):

  galaxy_job_conf(destinations, default, tools=None, runners=None, uid, gid, local_workers=4)
                                                   -> job_conf.yml as a dict (uid/gid: vre_galaxy_*)
  galaxy_object_store_conf(store, shared_dir)      -> object_store_conf.yml as a dict
  galaxy_object_store_types(store)                 -> the store types used at any depth
  galaxy_job_runner_packages(destinations)         -> the Python packages the runners need

Both raise AnsibleFilterError with a message naming the variable and what to do, so a wrong
configuration stops the play before anything is written.
"""

from __future__ import annotations

import re
from typing import Any

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover - the tests import this file without Ansible too

    class AnsibleFilterError(Exception):  # type: ignore[no-redef]
        """Stand-in when Ansible is not importable."""


RUNNER_LOADERS = {
    "local": "galaxy.jobs.runners.local:LocalJobRunner",
    "chronos": "galaxy.jobs.runners.chronos:ChronosJobRunner",
    "kubernetes": "galaxy.jobs.runners.kubernetes:KubernetesJobRunner",
    # Galaxy's CLI runner with its Slurm job plugin: sbatch, squeue and scancel on this host (a
    # Slurm submit host), no DRMAA library.
    "slurm": "galaxy.jobs.runners.cli:ShellJobRunner",
}

# Python packages each runner imports, installed into Galaxy's venv only when a destination uses it.
RUNNER_PACKAGES = {
    "local": [],
    "chronos": ["chronos-python"],
    "kubernetes": ["pykube-ng"],
    "slurm": [],
}

# Destination parameters of the OpenMinTeD Chronos runner (D8.2 Annex B) and their checks.
CHRONOS_DESTINATION_PARAMS = {
    "docker_enabled",
    "volumes",
    "docker_memory",
    "docker_cpu",
    "docker_disk",
    "max_retries",
}
_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
# Galaxy's job metrics plugins (galaxy.job_metrics.instrumenters, by plugin_type).
METRICS_PLUGINS = ("core", "cpuinfo", "meminfo", "uname", "hostname", "env", "cgroup")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

OBJECT_STORE_TYPES = {"disk", "hierarchical", "distributed", "boto3", "generic_s3", "s3", "pithos"}
# What Galaxy's Pithos+ store (galaxy.objectstore.pithos) reads from its configuration, and what
# each is. Its kamaki.clients is this repository's packages/vre-kamaki-pithos (the role installs
# it into Galaxy's venv when a pithos store is configured).
# Galaxy 26.1's own Pithos+ store starts and reads with this client but cannot write a dataset: its
# class, left behind by the move to _caching_base.py, sets no cache_updated_data and implements
# neither _push_file_to_path nor _exists_remotely (tests/test_galaxy_pithos_store.py pins each gap,
# and fails when a Galaxy release fills it). Every upload and job output would fail after Galaxy
# started, so a complete pithos store is refused unless the operator accepts that in so many words.
PITHOS_UNWRITABLE = (
    "a pithos store is complete, but Galaxy's own Pithos+ store (galaxy.objectstore.pithos, Galaxy 26.1) "
    "cannot write a dataset: update_from_file fails with AttributeError 'cache_updated_data', and "
    "_push_file_to_path and _exists_remotely are not implemented, so every upload and job output would "
    "fail after Galaxy started. Use type boto3 or generic_s3 for an object store, or set "
    "galaxy_pithos_allow_unwritable: true to deploy it anyway (reading existing data, or a Galaxy whose "
    "store is fixed; the role installs the Pithos+ client, packages/vre-kamaki-pithos)."
)
PITHOS_REQUIRED = {
    ("auth", "url"): "the Astakos identity URL, e.g. https://accounts.okeanos.grnet.gr/identity/v2.0",
    ("auth", "token"): (
        "the API token of the ~okeanos account that owns the container (a secret: keep it in ansible-vault)"
    ),
    ("container", "name"): "the Pithos+ container Galaxy keeps its datasets in (created when missing)",
    ("container", "project"): (
        "the uuid of the ~okeanos project whose storage quota the container uses: Galaxy creates the "
        "container in it (or reassigns it to it) and reads the store's usage from its quota"
    ),
}


def _err(msg: str) -> AnsibleFilterError:
    return AnsibleFilterError(msg)


def _stringify(value: Any) -> Any:
    """Galaxy reads runner/destination params as strings (like XML <param>); booleans lower-case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def _chronos_runner(runner: dict[str, Any]) -> dict[str, Any]:
    missing = [k for k in ("host", "owner") if not runner.get(k)]
    if missing:
        raise _err(
            f"galaxy_job_runners.chronos needs {', '.join(missing)}: host is the Chronos API address "
            "(host:port), owner the e-mail Chronos records for Galaxy's jobs (D8.2 Annex B)."
        )
    params: dict[str, Any] = {"chronos": runner["host"], "owner": runner["owner"]}
    if runner.get("username"):
        params["username"] = runner["username"]
        params["password"] = runner.get("password") or ""
    # The runner's `insecure` means "talk plain http" (galaxy.jobs.runners.chronos).
    params["insecure"] = not runner.get("tls", False)
    return {k: _stringify(v) for k, v in params.items()}


def _kubernetes_runner(runner: dict[str, Any], uid: Any, gid: Any) -> dict[str, Any]:
    claims = runner.get("persistent_volume_claims") or []
    if not claims:
        raise _err(
            "galaxy_job_runners.kubernetes.persistent_volume_claims is empty: list the claims that hold "
            "the shared filesystem as {claim: <name>, mount: <path in the pod>} (the path Galaxy uses, "
            "e.g. /srv/vre/galaxy), so the pods see the job working directories and datasets."
        )
    for claim in claims:
        if (
            not isinstance(claim, dict)
            or not claim.get("claim")
            or not str(claim.get("mount", "")).startswith("/")
        ):
            raise _err(
                f"galaxy_job_runners.kubernetes.persistent_volume_claims item {claim!r} must be "
                "{claim: <name>, mount: <absolute path>}."
            )
    if runner.get("pull_secret"):
        # Galaxy 26.1's KubernetesJobRunner has no imagePullSecrets parameter: pods get the
        # namespace's default ServiceAccount, which is where the pull secret belongs.
        raise _err(
            "galaxy_job_runners.kubernetes.pull_secret is set, but Galaxy's kubernetes runner has no "
            "image pull secret parameter. Attach the secret to the default ServiceAccount of namespace "
            f"{runner.get('namespace', 'default')!r}, which the job pods use: kubectl -n <namespace> "
            'patch serviceaccount default -p \'{"imagePullSecrets": [{"name": "<secret>"}]}\'; '
            "then remove pull_secret here."
        )
    policy = runner.get("pull_policy", "IfNotPresent")
    if policy not in ("Always", "IfNotPresent", "Never"):
        raise _err(
            f"galaxy_job_runners.kubernetes.pull_policy is {policy!r}: use Always, IfNotPresent or Never."
        )
    params: dict[str, Any] = {
        "k8s_namespace": runner.get("namespace", "default"),
        "k8s_persistent_volume_claims": ",".join(f"{c['claim']}:{c['mount']}" for c in claims),
        "k8s_run_as_user_id": runner.get("run_as_uid", uid),
        "k8s_run_as_group_id": runner.get("run_as_gid", gid),
        "k8s_fs_group_id": runner.get("fs_group", gid),
        "k8s_supplemental_group_id": runner.get("supplemental_group", gid),
        "k8s_pull_policy": policy,
    }
    # Galaxy parses this one with bool(), so any string, "false" included, means true: it is
    # written only when it is true (then the runner uses the pod's own service account).
    if runner.get("use_service_account", False) is True:
        params["k8s_use_service_account"] = True
    if runner.get("config_path"):
        params["k8s_config_path"] = runner["config_path"]
    if runner.get("galaxy_instance_id"):
        params["k8s_galaxy_instance_id"] = runner["galaxy_instance_id"]
    if uid is None or gid is None:
        raise _err(
            "galaxy_job_conf: a kubernetes runner needs the galaxy UID and GID its pods run as: pass "
            "vre_galaxy_uid and vre_galaxy_gid (roles/vre_defaults)"
        )
    return {k: _stringify(v) for k, v in params.items()}


def galaxy_job_runner_packages(destinations: list[dict[str, Any]]) -> list[str]:
    """The Python packages the runners in use need (chronos-python, pykube-ng), nothing else."""
    used = {d.get("runner") for d in destinations or []}
    return sorted({pkg for runner in used for pkg in RUNNER_PACKAGES.get(runner, [])})


def _job_env(dest_id: str, items: Any) -> list[dict[str, str]]:
    """A destination's `env`: environment variables set in the job script, [{name, value}]."""
    if not isinstance(items, (list, tuple)):
        raise _err(f"galaxy_job_destinations `{dest_id}` env must be a list of {{name, value}}.")
    out = []
    for item in items:
        if (
            not isinstance(item, dict)
            or not _ENV_NAME_RE.match(str(item.get("name", "")))
            or "value" not in item
            or set(item) - {"name", "value"}
        ):
            raise _err(
                f"galaxy_job_destinations `{dest_id}` env item {item!r} must be {{name, value}} "
                "with a shell variable name (letters, digits, '_')."
            )
        out.append({"name": str(item["name"]), "value": _stringify(item["value"])})
    return out


def galaxy_job_conf(  # noqa: PLR0917 - a Jinja filter: its arguments come positionally
    destinations: list[dict[str, Any]],
    default: str,
    tools: list[dict[str, Any]] | None = None,
    runners: dict[str, Any] | None = None,
    uid: Any = None,
    gid: Any = None,
    local_workers: int = 4,
) -> dict[str, Any]:
    """job_conf.yml (Galaxy's YAML job configuration) from galaxy_job_destinations & co."""
    runners = runners or {}
    tools = tools or []
    if not destinations:
        raise _err("galaxy_job_destinations is empty: keep at least the `local` destination.")
    ids: list[str] = []
    environments: dict[str, Any] = {}
    for dest in destinations:
        if not isinstance(dest, dict) or not dest.get("id") or not _ID_RE.match(str(dest["id"])):
            raise _err(
                f"galaxy_job_destinations item {dest!r} needs an `id` (letters, digits, '_', '.', '-')."
            )
        runner = dest.get("runner")
        if runner not in RUNNER_LOADERS:
            raise _err(
                f"galaxy_job_destinations `{dest['id']}` has runner {runner!r}: "
                f"use one of {', '.join(sorted(RUNNER_LOADERS))}."
            )
        if dest["id"] in ids:
            raise _err(f"galaxy_job_destinations has two destinations with id `{dest['id']}`.")
        ids.append(dest["id"])
        params = dict(dest.get("params") or {})
        if runner == "chronos":
            unknown = sorted(set(params) - CHRONOS_DESTINATION_PARAMS)
            if unknown:
                raise _err(
                    f"galaxy_job_destinations `{dest['id']}` (chronos) has unknown params {unknown}: "
                    f"the Chronos runner reads {sorted(CHRONOS_DESTINATION_PARAMS)}."
                )
            if isinstance(params.get("volumes"), (list, tuple)):
                for volume in params["volumes"]:
                    if len(str(volume).split(":")) != 3:
                        raise _err(
                            f"galaxy_job_destinations `{dest['id']}` volume {volume!r} must be "
                            "hostPath:containerPath:mode (mode RO or RW)."
                        )
        if runner == "slurm":
            # The commands run on the Galaxy host itself; a job_* parameter is an sbatch option
            # (job_partition, job_time, job_ncpus).
            params = {"shell_plugin": "LocalShell", "job_plugin": "Slurm"} | params
            if params["job_plugin"] != "Slurm" or params["shell_plugin"] != "LocalShell":
                raise _err(
                    f"galaxy_job_destinations `{dest['id']}` (slurm) submits with the Slurm job plugin "
                    "from the Galaxy host: leave job_plugin and shell_plugin out (or Slurm, LocalShell)."
                )
        env = {"runner": runner}
        env.update({k: _stringify(v) for k, v in params.items()})
        if dest.get("env"):
            env["env"] = _job_env(dest["id"], dest["env"])
        if dest.get("metrics") is not None:
            # The destination's own plugin list replaces galaxy_job_metrics for its jobs (Galaxy's
            # per-environment `metrics`).
            env["metrics"] = galaxy_job_metrics_conf(
                dest["metrics"], f"galaxy_job_destinations `{dest['id']}` metrics"
            )
        environments[dest["id"]] = env
    if default not in ids:
        raise _err(
            f"galaxy_job_default_destination is {default!r}, which is not in galaxy_job_destinations ({ids})."
        )

    used = []
    for dest in destinations:
        if dest["runner"] not in used:
            used.append(dest["runner"])
    plugins: dict[str, Any] = {}
    for runner in used:
        plugin: dict[str, Any] = {"load": RUNNER_LOADERS[runner]}
        conf = dict(runners.get(runner) or {})
        plugin["workers"] = int(conf.get("workers", local_workers if runner == "local" else 2))
        if runner == "chronos":
            plugin.update(_chronos_runner(conf))
        elif runner == "kubernetes":
            plugin.update(_kubernetes_runner(conf, uid, gid))
        plugins[runner] = plugin

    tool_rules = []
    for tool in tools:
        if not isinstance(tool, dict) or not tool.get("id") or not tool.get("destination"):
            raise _err(f"galaxy_job_tools item {tool!r} needs `id` (a tool id) and `destination`.")
        if tool["destination"] not in ids:
            raise _err(
                f"galaxy_job_tools maps tool `{tool['id']}` to destination `{tool['destination']}`, "
                f"which is not in galaxy_job_destinations ({ids})."
            )
        tool_rules.append({"id": tool["id"], "environment": tool["destination"]})

    conf: dict[str, Any] = {
        "runners": plugins,
        # Handlers are gravity's `handler` processes; they take jobs from the database.
        "handling": {"assign": ["db-skip-locked"]},
        "execution": {"default": default, "environments": environments},
    }
    if tool_rules:
        conf["tools"] = tool_rules
    return conf


def _with_extra_dirs(store: dict[str, Any], shared_dir: str, suffix: str = "") -> dict[str, Any]:
    store = dict(store)
    if "extra_dirs" not in store:
        store["extra_dirs"] = [
            {"type": "job_work", "path": f"{shared_dir}/jobs{suffix}"},
            {"type": "temp", "path": f"{shared_dir}/tmp{suffix}"},
        ]
    return store


def _check_store(store: Any, where: str, allow_unwritable_pithos: bool = False) -> None:
    if not isinstance(store, dict) or store.get("type") not in OBJECT_STORE_TYPES:
        kind = store.get("type") if isinstance(store, dict) else store
        raise _err(f"{where} has type {kind!r}: use one of {', '.join(sorted(OBJECT_STORE_TYPES))}.")
    if store["type"] == "pithos":
        _check_pithos(store, where)
        if not allow_unwritable_pithos:
            raise _err(f"{where}: {PITHOS_UNWRITABLE}")
    if store["type"] == "disk" and not str(store.get("files_dir", "")).startswith("/"):
        raise _err(f"{where} (disk) needs files_dir, an absolute path (on the shared filesystem).")
    if store["type"] in ("hierarchical", "distributed"):
        backends = store.get("backends") or []
        if not backends:
            raise _err(f"{where} ({store['type']}) needs backends, a non-empty list of stores.")
        seen = set()
        for i, backend in enumerate(backends):
            _check_store(backend, f"{where}.backends[{i}]", allow_unwritable_pithos)
            if not backend.get("id") or backend["id"] in seen:
                raise _err(f"{where}.backends[{i}] needs a unique id.")
            seen.add(backend["id"])
            if store["type"] == "distributed" and int(backend.get("weight", 1)) < 0:
                raise _err(f"{where}.backends[{i}] weight must be >= 0.")
    if store["type"] in ("boto3", "generic_s3", "s3"):
        auth = store.get("auth") or {}
        if not auth.get("access_key") or not auth.get("secret_key"):
            raise _err(f"{where} ({store['type']}) needs auth.access_key and auth.secret_key.")
        if not (store.get("bucket") or {}).get("name"):
            raise _err(f"{where} ({store['type']}) needs bucket.name.")
        if not (store.get("cache") or {}).get("path"):
            raise _err(
                f"{where} ({store['type']}) needs cache.path (a local cache directory) and cache.size (GB)."
            )


def _check_pithos(store: dict[str, Any], where: str) -> None:
    """Galaxy's Pithos+ store needs auth.url and auth.token, container.name and container.project.
    The token is named, never shown."""
    for (section, key), what in PITHOS_REQUIRED.items():
        part = store.get(section)
        value = part.get(key) if isinstance(part, dict) else None
        if value is None or (isinstance(value, str) and not value.strip()):
            raise _err(f"{where}.{section}.{key} is not set: a pithos store needs it, {what}.")
        if not isinstance(value, str):
            raise _err(f"{where}.{section}.{key} must be a string (quote it): {what}.")
    if not re.match(r"^https?://[^/]+", store["auth"]["url"]):
        raise _err(f"{where}.auth.url must be an http(s) URL: {PITHOS_REQUIRED[('auth', 'url')]}.")
    ca_certs = store["auth"].get("ca_certs")
    if ca_certs is not None and not str(ca_certs).startswith("/"):
        raise _err(f"{where}.auth.ca_certs must be the absolute path of a CA bundle on the Galaxy host.")


def _pithos_conf(store: dict[str, Any]) -> dict[str, Any]:
    """Galaxy's store calls auth.ignore_ssl.lower() unless ca_certs is set: always a string."""
    auth = dict(store["auth"])
    auth["ignore_ssl"] = _stringify(auth.get("ignore_ssl", False)).lower()
    return {**store, "auth": auth}


def _with_pithos_conf(store: dict[str, Any]) -> dict[str, Any]:
    """Every pithos store of the tree, at any depth, in the form Galaxy's store reads."""
    if store["type"] == "pithos":
        return _pithos_conf(store)
    if store.get("backends"):
        return {**store, "backends": [_with_pithos_conf(b) for b in store["backends"]]}
    return store


def galaxy_object_store_conf(
    store: dict[str, Any], shared_dir: str, allow_unwritable_pithos: bool = False
) -> dict[str, Any]:
    """object_store_conf.yml: galaxy_object_store checked, with job_work/temp dirs on the share.
    A complete pithos store is still refused unless allow_unwritable_pithos (PITHOS_UNWRITABLE)."""
    _check_store(store, "galaxy_object_store", bool(allow_unwritable_pithos))
    store = dict(_with_pithos_conf(store))
    if store["type"] in ("hierarchical", "distributed"):
        store["backends"] = [_with_extra_dirs(b, shared_dir, f"/{b['id']}") for b in store["backends"]]
        return store
    return _with_extra_dirs(store, shared_dir)


def galaxy_object_store_types(store: Any) -> list[str]:
    """The store types used anywhere in the tree (the role installs a pithos store's client)."""
    if not isinstance(store, dict):
        return []
    types = {str(store.get("type"))}
    for backend in store.get("backends") or []:
        types.update(galaxy_object_store_types(backend))
    return sorted(types)


def galaxy_object_store_dirs(store: dict[str, Any]) -> list[str]:
    """Every directory the object store writes to (files, extra dirs, caches), to create them."""
    dirs: list[str] = []
    for backend in store.get("backends") or [store]:
        if backend.get("backends"):
            dirs += galaxy_object_store_dirs(backend)
            continue
        if backend.get("files_dir"):
            dirs.append(backend["files_dir"])
        if (backend.get("cache") or {}).get("path"):
            dirs.append(backend["cache"]["path"])
        dirs += [d["path"] for d in backend.get("extra_dirs") or []]
    return sorted(set(dirs))


def galaxy_job_metrics_conf(plugins: Any, name: str = "galaxy_job_metrics") -> list[dict[str, Any]]:
    """job_metrics_conf.yml (Galaxy's YAML list of plugins), checked: each item a mapping with a
    `type` Galaxy has, each type once."""
    if not isinstance(plugins, (list, tuple)):
        raise _err(f"{name} must be a list of {{type: <plugin>}} items, not {plugins!r}.")
    out: list[dict[str, Any]] = []
    for plugin in plugins:
        kind = plugin.get("type") if isinstance(plugin, dict) else None
        if kind not in METRICS_PLUGINS:
            raise _err(
                f"{name} item {plugin!r} needs `type`, one of Galaxy's plugins: {', '.join(METRICS_PLUGINS)}."
            )
        if any(p["type"] == kind for p in out):
            raise _err(f"{name} lists plugin `{kind}` twice: list each plugin once.")
        out.append({"type": kind} | {k: _stringify(v) for k, v in plugin.items() if k != "type"})
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "galaxy_job_conf": galaxy_job_conf,
            "galaxy_job_metrics_conf": galaxy_job_metrics_conf,
            "galaxy_job_runner_packages": galaxy_job_runner_packages,
            "galaxy_object_store_conf": galaxy_object_store_conf,
            "galaxy_object_store_dirs": galaxy_object_store_dirs,
            "galaxy_object_store_types": galaxy_object_store_types,
        }

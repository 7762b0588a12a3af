"""The galaxy role's job and object store configurations, loaded by Galaxy's own code.

The role builds job_conf.yml and object_store_conf.yml with its filters
(roles/galaxy/filter_plugins/galaxy_conf.py) and writes them with `to_nice_yaml`. Here the same
filters build every destination (local, chronos, kubernetes) and every supported object store
backend (disk, hierarchical, distributed, boto3), the YAML is written the way the templates write
it, and tests/galaxy_driver/load_configs.py loads it with Galaxy's JobConfiguration, the runner
plugin classes and build_object_store_from_config, in the Galaxy test venv (.venv-galaxy,
tests/galaxy_venv.sh). So a configuration Galaxy would reject cannot ship.

The Chronos destination is also submitted, through Galaxy's ChronosJobRunner, to the Chronos API
double (tests/test_chronos_runner_contract.submit).

Skipped with the command to run when .venv-galaxy is missing, unless VRE_REQUIRE_GALAXY is set.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.galaxy_code import galaxy_filters, galaxy_python
from tests.vre_defaults import CLUSTER_DEFAULTS

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "tests" / "galaxy_driver" / "load_configs.py"
UID, GID = CLUSTER_DEFAULTS["vre_galaxy_uid"], CLUSTER_DEFAULTS["vre_galaxy_gid"]


gc = galaxy_filters()


def _python() -> Path:
    return galaxy_python()


def _galaxy_has(module: str) -> bool:
    proc = subprocess.run(
        [str(_python()), "-c", f"import {module}"], capture_output=True, text=True, check=False
    )
    return proc.returncode == 0


def _load(
    tmp_path: Path,
    job_conf: dict | None = None,
    object_store: dict | None = None,
    metrics: list | None = None,
) -> dict[str, Any]:
    args = [str(_python()), str(DRIVER), "--work", str(tmp_path / "work")]
    if metrics is not None:
        (tmp_path / "job_metrics_conf.yml").write_text(yaml.safe_dump(metrics, sort_keys=False))
        args += ["--job-metrics-conf", str(tmp_path / "job_metrics_conf.yml")]
    if job_conf is not None:
        (tmp_path / "job_conf.yml").write_text(yaml.safe_dump(job_conf, sort_keys=False))
        args += ["--job-conf", str(tmp_path / "job_conf.yml")]
    if object_store is not None:
        (tmp_path / "object_store_conf.yml").write_text(yaml.safe_dump(object_store, sort_keys=False))
        args += ["--object-store-conf", str(tmp_path / "object_store_conf.yml")]
    proc = subprocess.run(args, capture_output=True, text=True, check=False, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


def _defaults() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "roles" / "galaxy" / "defaults" / "main.yml").read_text())


# --- job configuration -------------------------------------------------------------------------

SHARE = "/srv/vre/galaxy"
CHRONOS_RUNNER = {
    "host": "chronos.vre.test:4400",
    "owner": "galaxy@vre.test",
    "username": "galaxy",
    "password": "chronos-test-password",
    "workers": 4,
}
CHRONOS_DEST = {
    "id": "chronos",
    "runner": "chronos",
    "params": {
        "docker_enabled": True,
        "volumes": [f"{SHARE}:{SHARE}:RW"],
        "docker_memory": 2048,
        "docker_cpu": 2,
        "max_retries": 1,
    },
}
K8S_RUNNER = {
    "namespace": "vre",
    "persistent_volume_claims": [{"claim": "galaxy-share", "mount": SHARE}],
    "pull_policy": "IfNotPresent",
    "config_path": "/etc/galaxy/kubeconfig",
}


# As inventories/group_vars/galaxy sets it: the tool's container as the pod's image, /bin/sh.
K8S_DEST = {"id": "k8s", "runner": "kubernetes", "params": {"docker_enabled": True, "shell": "/bin/sh"}}


def _all_destinations() -> dict[str, Any]:
    return gc.galaxy_job_conf(
        [{"id": "local", "runner": "local"}, CHRONOS_DEST, K8S_DEST],
        "local",
        [{"id": "cat1", "destination": "local"}, {"id": "sort1", "destination": "chronos"}],
        {"local": {"workers": 4}, "chronos": CHRONOS_RUNNER, "kubernetes": K8S_RUNNER},
        UID,
        GID,
    )


SLURM_DEST = {
    "id": "slurm",
    "runner": "slurm",
    "params": {"docker_enabled": True, "job_partition": "main", "job_time": "01:00:00"},
}

# Galaxy's own CLI machinery, as ShellJobRunner uses it: the destination's params split into the
# shell and job plugins' settings, the job plugin's sbatch header and commands.
_CLI_PROBE = """
import json, sys
from galaxy.jobs.runners.util.cli import CliInterface, split_params
params = json.loads(sys.argv[1])
shell_params, job_params = split_params(params)
shell, job = CliInterface().get_plugins(shell_params, job_params)
print(json.dumps({
    "shell": type(shell).__name__,
    "job": type(job).__name__,
    "headers": job.job_script_kwargs("out", "err", "g1")["headers"],
    "submit": job.submit("job.sh"),
    "status": job.get_single_status("42"),
    "run": shell.execute("echo submitted").stdout.strip(),
}))
"""


def test_slurm_destination_loads_and_submits_with_sbatch(tmp_path):
    conf = gc.galaxy_job_conf([{"id": "local", "runner": "local"}, SLURM_DEST], "local", [], {}, UID, GID)
    report = _load(tmp_path, job_conf=conf)["job_conf"]
    assert report["ok"], report.get("trace")
    assert report["runners"]["slurm"]["class"] == "galaxy.jobs.runners.cli.ShellJobRunner"
    params = report["destinations"]["slurm"]["params"]
    assert params["shell_plugin"] == "LocalShell" and params["job_plugin"] == "Slurm"
    proc = subprocess.run(
        [str(_python()), "-c", _CLI_PROBE, json.dumps(params)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    cli = json.loads(proc.stdout)
    assert (cli["shell"], cli["job"]) == ("LocalShell", "Slurm")
    assert "#SBATCH -p main" in cli["headers"] and "#SBATCH -t 01:00:00" in cli["headers"]
    assert cli["submit"] == "sbatch job.sh"
    assert cli["status"] == "squeue -a -o '%A %t' -j 42"
    assert cli["run"] == "submitted", "LocalShell runs the commands on the Galaxy host itself"
    assert gc.galaxy_job_runner_packages([SLURM_DEST]) == []


def test_kubernetes_runner_uses_the_service_account_only_when_asked(tmp_path):
    conf = gc.galaxy_job_conf(
        [{"id": "k8s", "runner": "kubernetes"}],
        "k8s",
        [],
        {"kubernetes": {**K8S_RUNNER, "use_service_account": True}},
        UID,
        GID,
    )
    report = _load(tmp_path, job_conf=conf)["job_conf"]
    assert report["ok"], report.get("trace")
    assert report["runners"]["kubernetes"]["kube_clients"] == ["service_account"]


def test_kubernetes_runner_without_the_galaxy_ids_is_refused_naming_them():
    """The UID and GID the pods run as come from roles/vre_defaults; the filter has no copy."""
    with pytest.raises(Exception, match="pass vre_galaxy_uid and vre_galaxy_gid"):
        gc.galaxy_job_conf([K8S_DEST], "k8s", [], {"kubernetes": K8S_RUNNER})


def test_role_default_job_conf_loads(tmp_path):
    d = _defaults()
    conf = gc.galaxy_job_conf(
        d["galaxy_job_destinations"],
        d["galaxy_job_default_destination"],
        d["galaxy_job_tools"],
        d["galaxy_job_runners"],
        UID,
        GID,
    )
    report = _load(tmp_path, job_conf=conf)["job_conf"]
    assert report["ok"], report.get("trace")
    assert report["default_destination"] == "local"
    assert report["runners"]["local"]["class"] == "galaxy.jobs.runners.local.LocalJobRunner"


def test_job_metrics_load_with_galaxy_and_only_the_k8s_destination_reads_its_cgroup(tmp_path):
    """The role's galaxy_job_metrics for every job; the k8s destination as inventories/group_vars/
    galaxy gives it (the same plus cgroup: the job script runs in the pod)."""
    default = gc.galaxy_job_metrics_conf(_defaults()["galaxy_job_metrics"])
    k8s = K8S_DEST | {"metrics": _defaults()["galaxy_job_metrics"] + [{"type": "cgroup"}]}
    conf = gc.galaxy_job_conf(
        [{"id": "local", "runner": "local"}, k8s], "local", [], {"kubernetes": K8S_RUNNER}, UID, GID
    )
    report = _load(tmp_path, job_conf=conf, metrics=default)["job_conf"]
    assert report["ok"], report.get("trace")
    assert report["metrics"] == {
        "local": ["core", "cpuinfo", "meminfo", "hostname"],
        "k8s": ["core", "cpuinfo", "meminfo", "hostname", "cgroup"],
    }


@pytest.mark.parametrize(
    "metrics",
    [{"type": "core"}, [{"type": "cpu"}], [{"name": "core"}], [{"type": "core"}, {"type": "core"}]],
    ids=["not-a-list", "unknown-plugin", "no-type", "twice"],
)
def test_role_refuses_bad_job_metrics_naming_the_variable(metrics):
    with pytest.raises(Exception, match="galaxy_job_metrics"):
        gc.galaxy_job_metrics_conf(metrics)
    dest = {"id": "k8s", "runner": "local", "metrics": metrics}
    with pytest.raises(Exception, match="galaxy_job_destinations `k8s` metrics"):
        gc.galaxy_job_conf([dest], "k8s", [], {})


def test_every_destination_loads_with_galaxy(tmp_path):
    if not _galaxy_has("chronos"):
        pytest.fail("chronos-python is missing from .venv-galaxy: rerun tests/galaxy_venv.sh")
    report = _load(tmp_path, job_conf=_all_destinations())["job_conf"]
    assert report["ok"], report.get("trace")
    assert set(report["destinations"]) == {"local", "chronos", "k8s"}
    assert report["tools"] == {"cat1": "local", "sort1": "chronos"}
    chronos = report["destinations"]["chronos"]
    assert chronos["runner"] == "chronos"
    assert chronos["params"] == {
        "docker_enabled": "true",
        "volumes": f"{SHARE}:{SHARE}:RW",
        "docker_memory": "2048",
        "docker_cpu": "2",
        "max_retries": "1",
    }
    runners = report["runners"]
    assert runners["chronos"]["class"] == "galaxy.jobs.runners.chronos.ChronosJobRunner"
    assert runners["chronos"]["params"]["chronos"] == "chronos.vre.test:4400"
    assert runners["chronos"]["params"]["owner"] == "galaxy@vre.test"
    assert runners["chronos"]["params"]["insecure"] is True
    # Galaxy reads `shell` as the destination's job shell, the rest as its params.
    assert report["destinations"]["k8s"]["shell"] == "/bin/sh"
    assert report["destinations"]["k8s"]["params"] == {"docker_enabled": "true"}
    assert report["destinations"]["local"]["shell"] is None
    k8s = runners["kubernetes"]["params"]
    assert runners["kubernetes"]["class"] == "galaxy.jobs.runners.kubernetes.KubernetesJobRunner"
    assert k8s["k8s_namespace"] == "vre"
    assert k8s["k8s_persistent_volume_claims"] == f"galaxy-share:{SHARE}"
    assert k8s["k8s_run_as_user_id"] == str(UID)
    assert k8s["k8s_run_as_group_id"] == str(GID)
    assert k8s["k8s_fs_group_id"] == str(GID)
    assert k8s["k8s_pull_policy"] == "IfNotPresent"
    # Galaxy maps k8s_use_service_account with bool(): a "false" string would make the runner read
    # a pod's service account instead of the kubeconfig, so it is left out unless it is true.
    assert "k8s_use_service_account" not in k8s
    assert runners["kubernetes"]["kube_clients"] == ["kubeconfig:/etc/galaxy/kubeconfig"]


def test_docker_destination_with_env_loads_with_galaxy(tmp_path):
    """The local provider's `docker` destination: containers from the registry, DOCKER_CONFIG set."""
    conf = gc.galaxy_job_conf(
        [
            {"id": "local", "runner": "local"},
            {
                "id": "docker",
                "runner": "local",
                "params": {"docker_enabled": True, "docker_sudo": False, "docker_auto_rm": True},
                "env": [{"name": "DOCKER_CONFIG", "value": "/home/galaxy/.docker"}],
            },
        ],
        "local",
        [{"id": "vre_line_count", "destination": "docker"}],
        {},
        UID,
        GID,
    )
    report = _load(tmp_path, job_conf=conf)["job_conf"]
    assert report["ok"], report.get("trace")
    docker = report["destinations"]["docker"]
    assert docker["params"]["docker_enabled"] == "true"
    assert [(e["name"], e["value"]) for e in docker["env"]] == [("DOCKER_CONFIG", "/home/galaxy/.docker")]
    assert report["tools"] == {"vre_line_count": "docker"}


@pytest.mark.parametrize(
    "env",
    [{"name": "DOCKER_CONFIG"}, [{"name": "1BAD", "value": "x"}], [{"name": "A", "value": "x", "raw": 1}]],
)
def test_role_refuses_a_bad_destination_env(env):
    with pytest.raises(Exception, match="env"):
        gc.galaxy_job_conf([{"id": "local", "runner": "local", "env": env}], "local", [], {})


def test_galaxy_rejects_a_parameter_the_runner_does_not_know(tmp_path):
    """The loader is a real check: a runner parameter Galaxy does not know fails the load."""
    conf = _all_destinations()
    conf["runners"]["kubernetes"]["k8s_image_pull_secret"] = "regcred"
    report = _load(tmp_path, job_conf=conf)["job_conf"]
    assert not report["ok"]
    assert "k8s_image_pull_secret" in report["error"]


@pytest.fixture
def galaxy_driver():
    contract = pytest.importorskip("tests.test_chronos_runner_contract")
    driver = contract.GalaxyDriver(contract._galaxy_venv_or_skip())
    yield contract, driver
    driver.close()


def test_chronos_destination_reaches_the_chronos_api_double(tmp_path, galaxy_driver):
    """The role's Chronos destination, submitted by Galaxy's ChronosJobRunner to the API double
    (tests/doubles/chronos_api.py), with the checks of the runner contract."""
    from tests.doubles.chronos_api import ChronosApiDouble

    contract, driver = galaxy_driver
    share = tmp_path / "srv/vre/galaxy"
    share.mkdir(parents=True)
    conf = gc.galaxy_job_conf(
        [{**CHRONOS_DEST, "params": {**CHRONOS_DEST["params"], "volumes": [f"{share}:{share}:RW"]}}],
        "chronos",
        [],
        {"chronos": CHRONOS_RUNNER},
    )
    dest = {k: v for k, v in conf["execution"]["environments"]["chronos"].items() if k != "runner"}
    plugin = conf["runners"]["chronos"]
    with ChronosApiDouble(
        username=plugin["username"], password=plugin["password"], task_user="galaxy"
    ) as double:
        report = contract.submit(
            driver,
            double,
            dest,
            str(share),
            runner_params={k: plugin[k] for k in ("owner", "username", "password")},
        )
        assert report["exception"] is None, report.get("traceback")
        assert double.refused == [] and double.unknown == []
        job = double.jobs["galaxy-chronos-42"]
    assert contract.vre_contract_problems(job, str(share)) == []
    assert job["owner"] == "galaxy@vre.test"
    assert job["mem"] == 2048 and float(job["cpus"]) == 2.0 and job["retries"] == 1


@pytest.mark.parametrize(
    ("destinations", "default", "tools", "runners", "message"),
    [
        ([], "local", [], {}, "galaxy_job_destinations is empty"),
        ([{"id": "x", "runner": "pbs"}], "x", [], {}, "runner 'pbs'"),
        (
            [{"id": "s", "runner": "slurm", "params": {"job_plugin": "Torque"}}],
            "s",
            [],
            {},
            "leave job_plugin and shell_plugin out",
        ),
        ([{"id": "local", "runner": "local"}], "nowhere", [], {}, "galaxy_job_default_destination"),
        ([{"id": "local", "runner": "local"}], "local", [{"id": "cat1", "destination": "k8s"}], {}, "cat1"),
        ([CHRONOS_DEST], "chronos", [], {"chronos": {"owner": "o"}}, "needs host"),
        (
            [{**CHRONOS_DEST, "params": {"volumes": ["/a:/b"]}}],
            "chronos",
            [],
            {"chronos": CHRONOS_RUNNER},
            "hostPath:containerPath:mode",
        ),
        (
            [{**CHRONOS_DEST, "params": {"docker_mem": 1}}],
            "chronos",
            [],
            {"chronos": CHRONOS_RUNNER},
            "unknown params",
        ),
        ([{"id": "k", "runner": "kubernetes"}], "k", [], {"kubernetes": {}}, "persistent_volume_claims"),
        (
            [{"id": "k", "runner": "kubernetes"}],
            "k",
            [],
            {"kubernetes": {**K8S_RUNNER, "pull_secret": "regcred"}},
            "default ServiceAccount",
        ),
    ],
)
def test_role_refuses_bad_job_variables(destinations, default, tools, runners, message):
    with pytest.raises(Exception, match=message.replace("(", r"\(")):
        gc.galaxy_job_conf(destinations, default, tools, runners)


def test_runner_packages_only_when_used():
    assert gc.galaxy_job_runner_packages([{"id": "local", "runner": "local"}]) == []
    assert gc.galaxy_job_runner_packages([CHRONOS_DEST]) == ["chronos-python"]
    assert gc.galaxy_job_runner_packages([{"runner": "kubernetes"}, CHRONOS_DEST]) == [
        "chronos-python",
        "pykube-ng",
    ]


# --- object stores -----------------------------------------------------------------------------

S3 = {
    "type": "boto3",
    "auth": {"access_key": "AKIATEST", "secret_key": "s3-test-secret"},
    "bucket": {"name": "vre-galaxy"},
    "connection": {"endpoint_url": "https://s3.vre.test:9000/"},
    "cache": {"path": "/var/lib/galaxy/object_store_cache", "size": 100},
}


def _stores(tmp: str) -> dict[str, dict[str, Any]]:
    return {
        "disk": {"type": "disk", "files_dir": f"{tmp}/objects"},
        "hierarchical": {
            "type": "hierarchical",
            "backends": [
                {"id": "new", "type": "disk", "order": 0, "files_dir": f"{tmp}/objects2"},
                {"id": "old", "type": "disk", "order": 1, "files_dir": f"{tmp}/objects1"},
            ],
        },
        "distributed": {
            "type": "distributed",
            "backends": [
                {"id": "a", "type": "disk", "weight": 2, "files_dir": f"{tmp}/a"},
                {"id": "b", "type": "disk", "weight": 1, "files_dir": f"{tmp}/b"},
            ],
        },
        "boto3": {**S3, "cache": {"path": f"{tmp}/cache", "size": 100}},
    }


@pytest.mark.parametrize("kind", ["disk", "hierarchical", "distributed", "boto3"])
def test_object_store_loads_with_galaxy(tmp_path, kind):
    if kind == "boto3" and not _galaxy_has("boto3"):
        pytest.skip(
            "boto3 is not in .venv-galaxy (tests/requirements-galaxy.txt): Galaxy's S3 store cannot be "
            "loaded; add boto3 to that file to cover it"
        )
    share = str(tmp_path / "share")
    store = gc.galaxy_object_store_conf(_stores(share)[kind], share)
    report = _load(tmp_path, object_store=store)["object_store"]
    assert report["ok"], report.get("trace")
    if kind == "disk":
        assert report["class"] == "DiskObjectStore"
        assert report["files_dir"] == f"{share}/objects"
        assert report["extra_dirs"]["job_work"] == f"{share}/jobs"
        assert report["extra_dirs"]["temp"] == f"{share}/tmp"
    elif kind == "hierarchical":
        assert report["class"] == "HierarchicalObjectStore"
        assert set(report["backends"]) == {0, 1} or len(report["backends"]) == 2
    elif kind == "distributed":
        assert report["class"] == "DistributedObjectStore"
        assert set(report["backends"]) == {"a", "b"}
        assert report["backends"]["a"]["extra_dirs"]["job_work"] == f"{share}/jobs/a"
    else:
        assert report["bucket"] == "vre-galaxy"


def test_role_default_object_store_is_disk_on_the_share(tmp_path):
    d = _defaults()
    assert d["galaxy_object_store"] == {"type": "disk", "files_dir": "{{ galaxy_shared_dir }}/objects"}
    assert d["galaxy_shared_dir"] == "{{ vre_shared_root }}/galaxy"
    assert CLUSTER_DEFAULTS["vre_shared_root"] == "/srv/vre"


def test_galaxy_rejects_an_unknown_store_type(tmp_path):
    report = _load(tmp_path, object_store={"type": "nosuchstore", "files_dir": "/x"})["object_store"]
    assert not report["ok"]
    assert "Unrecognized object store definition" in report["error"]


PITHOS = {
    "type": "pithos",
    "auth": {"url": "https://accounts.okeanos.grnet.gr/identity/v2.0", "token": "pithos-test-token"},
    "container": {"name": "galaxy", "project": "3f1f3c1e-6c4f-4d7e-9a55-2f3b6c9d8e01"},
}


def test_a_complete_pithos_store_is_refused_for_galaxys_own_gaps_unless_accepted():
    """Galaxy 26.1's Pithos+ store cannot write (tests/test_galaxy_pithos_store.py pins why): a
    complete store is refused with that reason and the way out, in a hierarchical store too."""
    nested = {
        "type": "hierarchical",
        "backends": [{"id": "disk", "type": "disk", "files_dir": "/d"}, {"id": "p", **PITHOS}],
    }
    for store, where in ((PITHOS, "galaxy_object_store:"), (nested, "galaxy_object_store.backends[1]:")):
        with pytest.raises(Exception, match="cannot write a dataset") as err:
            gc.galaxy_object_store_conf(store, SHARE)
        text = str(err.value)
        assert where in text and "cache_updated_data" in text and "boto3" in text, text
        assert "galaxy_pithos_allow_unwritable: true" in text and "pithos-test-token" not in text


def test_a_complete_pithos_store_is_rendered_as_galaxys_store_reads_it():
    conf = gc.galaxy_object_store_conf(PITHOS, SHARE, True)
    assert conf["auth"] == {**PITHOS["auth"], "ignore_ssl": "false"}  # Galaxy calls .lower() on it
    assert conf["container"] == PITHOS["container"]
    assert conf["extra_dirs"] == [
        {"type": "job_work", "path": f"{SHARE}/jobs"},
        {"type": "temp", "path": f"{SHARE}/tmp"},
    ]
    nested = {
        "type": "hierarchical",
        "backends": [{"id": "p", **PITHOS, "auth": {**PITHOS["auth"], "ignore_ssl": True}}],
    }
    assert gc.galaxy_object_store_conf(nested, SHARE, True)["backends"][0]["auth"]["ignore_ssl"] == "true"
    assert gc.galaxy_object_store_types({"type": "distributed", "backends": [{"id": "a", **S3}, nested]}) == [
        "boto3",
        "distributed",
        "hierarchical",
        "pithos",
    ]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda s: s["auth"].pop("token"),
            "galaxy_object_store.auth.token is not set: a pithos store needs it",
        ),
        (lambda s: s["auth"].update(token=""), "galaxy_object_store.auth.token is not set"),
        (lambda s: s["auth"].update(token=12345), "galaxy_object_store.auth.token must be a string"),
        (lambda s: s["auth"].pop("url"), "galaxy_object_store.auth.url is not set: .* identity URL"),
        (lambda s: s["auth"].update(url="accounts.okeanos"), "galaxy_object_store.auth.url must be an http"),
        (lambda s: s["container"].pop("name"), "galaxy_object_store.container.name is not set"),
        (
            lambda s: s["container"].pop("project"),
            "galaxy_object_store.container.project is not set: .* project",
        ),
        (lambda s: s.pop("container"), "galaxy_object_store.container.name is not set"),
        (
            lambda s: s["auth"].update(ca_certs="ca.pem"),
            "galaxy_object_store.auth.ca_certs must be the absolute",
        ),
    ],
)
def test_an_incomplete_pithos_store_is_refused_naming_what_to_set(edit, message):
    store = {k: dict(v) if isinstance(v, dict) else v for k, v in PITHOS.items()}
    edit(store)
    with pytest.raises(Exception, match=message) as err:
        gc.galaxy_object_store_conf(store, SHARE)
    assert "pithos-test-token" not in str(err.value)


def test_without_the_client_galaxys_pithos_store_fails_naming_kamaki(tmp_path):
    """Why the role installs packages/vre-kamaki-pithos into Galaxy's venv with a pithos store:
    Galaxy's own store needs kamaki.clients (tests/test_galaxy_pithos_store.py runs it with it)."""
    conf = {
        **PITHOS,
        "extra_dirs": [
            {"type": "job_work", "path": f"{tmp_path}/j"},
            {"type": "temp", "path": f"{tmp_path}/t"},
        ],
    }
    report = _load(tmp_path, object_store=conf)["object_store"]
    assert not report["ok"]
    assert "kamaki" in report["error"]


@pytest.mark.parametrize(
    ("store", "message"),
    [
        ({"type": "disk"}, "files_dir"),
        ({"type": "ftp"}, "use one of"),
        ({"type": "distributed", "backends": []}, "backends"),
        ({"type": "distributed", "backends": [{"type": "disk", "files_dir": "/a"}]}, "unique id"),
        ({**S3, "auth": {}}, "access_key"),
        (
            {"type": "hierarchical", "backends": [{"id": "p", "type": "pithos"}]},
            r"galaxy_object_store.backends\[0\].auth.url is not set",
        ),
    ],
)
def test_role_refuses_bad_object_stores(store, message):
    with pytest.raises(Exception, match=message):
        gc.galaxy_object_store_conf(store, SHARE)

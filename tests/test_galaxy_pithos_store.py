"""Galaxy's own Pithos+ object store (galaxy.objectstore.pithos, unmodified, Galaxy 26.1.2 from the
Galaxy test venv) with this repository's kamaki.clients (packages/vre-kamaki-pithos, put on the
venv's PYTHONPATH), built from the object_store_conf.yml the galaxy role renders, against the
Pithos+ double (tests/doubles/pithos.py). tests/galaxy_driver/pithos_store.py runs the steps.

What it shows: Galaxy authenticates at Astakos, creates its container in the configured project
(or reassigns an existing one), creates datasets, uploads a file of its cache that Pithos+ lacks
(the hashmap path, block by block), downloads a dataset back, publishes it. And what Galaxy
26.1.2's store itself cannot do, whatever the client: `test_what_galaxys_store_cannot_do` pins
those failures (they are in Galaxy's code, not in kamaki's), so a Galaxy release that fixes them
fails it and the README's account of them gets updated.

Skipped with the command to run when .venv-galaxy is missing, unless VRE_REQUIRE_GALAXY is set.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.doubles.pithos import Container, PithosDouble
from tests.galaxy_code import galaxy_filters, galaxy_python

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "tests" / "galaxy_driver" / "pithos_store.py"
PACKAGE_SRC = ROOT / "packages" / "vre-kamaki-pithos" / "src"
BLOCK = 64 * 1024
SOURCE = "".join(f"line {i}: a dataset larger than a few Pithos+ blocks\n" for i in range(12000)).encode()


def _drive(tmp_path: Path, store: dict[str, Any], source: bytes) -> subprocess.CompletedProcess[str]:
    """The role's filter renders object_store_conf.yml; the driver runs Galaxy's store on it."""
    conf = galaxy_filters().galaxy_object_store_conf(store, str(tmp_path / "share"), True)
    (tmp_path / "object_store_conf.yml").write_text(yaml.safe_dump(conf, sort_keys=False))
    (tmp_path / "source.txt").write_bytes(source)
    args = [
        str(galaxy_python()),
        str(DRIVER),
        "--object-store-conf",
        str(tmp_path / "object_store_conf.yml"),
        "--work",
        str(tmp_path / "work"),
        "--source",
        str(tmp_path / "source.txt"),
    ]
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_SRC)}
    return subprocess.run(
        args, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False
    )


def _run(tmp_path: Path, cloud: PithosDouble, store: dict[str, Any]) -> dict[str, Any]:
    proc = _drive(tmp_path, store, SOURCE)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert cloud.token not in proc.stdout + proc.stderr, "the token was printed"
    report = json.loads(proc.stdout)
    assert report["store"]["ok"], report["store"].get("trace")
    report["by_step"] = {s["step"]: s for s in report["steps"]}
    return report


def _pithos(cloud: PithosDouble, **container: str) -> dict[str, Any]:
    return {
        "type": "pithos",
        "auth": {"url": cloud.auth_url, "token": cloud.token},
        "container": {"name": "galaxy", "project": cloud.project, **container},
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run of the driver on a hierarchical store with Pithos+ in front of a disk store."""
    galaxy_python()
    tmp_path = tmp_path_factory.mktemp("pithos")
    with PithosDouble(block_size=BLOCK) as cloud:
        store = {
            "type": "hierarchical",
            "backends": [
                {"id": "pithos", **_pithos(cloud)},
                {"id": "files", "type": "disk", "files_dir": str(tmp_path / "files")},
            ],
        }
        report = _run(tmp_path, cloud, store)
        public = report["by_step"]["get_object_url"].get("value")
        published = urllib.request.urlopen(public, timeout=10).read() if public else None
        yield report, cloud, published


def _ok(report: dict[str, Any], step: str) -> Any:
    result = report["by_step"][step]
    assert result["ok"], f"{step}: {result.get('error')} at {result.get('where')}"
    return result["value"]


def test_galaxy_builds_its_pithos_store_with_this_kamaki(run):
    report, cloud, _ = run
    assert report["store"]["class"] == "galaxy.objectstore.pithos.PithosObjectStore"
    assert report["store"]["kamaki"].startswith(str(PACKAGE_SRC))
    assert report["store"]["account"] == cloud.user
    assert cloud.containers["galaxy"].project == cloud.project


def test_a_dataset_goes_up_block_by_block_and_comes_back(run):
    report, cloud, published = run
    assert _ok(report, "create") is True
    assert _ok(report, "write_cache") == len(SOURCE)
    assert _ok(report, "exists_uploads_the_cached_file") is True
    stored = cloud.containers["galaxy"].objects["000/dataset_2.dat"]
    assert cloud.data(stored) == SOURCE and len(stored.hashes) == -(-len(SOURCE) // BLOCK) > 1
    assert ("hashmap", f"000/dataset_2.dat: {len(stored.hashes)} missing") in cloud.events
    assert _ok(report, "get_data_downloads") == {
        "bytes": len(SOURCE),
        "sha256": hashlib.sha256(SOURCE).hexdigest(),
    }
    assert _ok(report, "size_from_the_cache") == len(SOURCE)
    assert _ok(report, "get_object_url").startswith(f"{cloud.url}/public/")
    assert published == SOURCE
    # A dataset Galaxy creates is an empty object on Pithos+ (and its directory marker).
    assert cloud.containers["galaxy"].objects["000/dataset_1.dat"].size == 0


# Failures of Galaxy 26.1.2's galaxy/objectstore/pithos.py (with _caching_base.py), seen through
# this client: the store implements neither _push_file_to_path nor _exists_remotely, does not set
# cache_updated_data, its _download returns None (so get_filename reports a downloaded file as
# missing) and its _get_store_usage_percent takes no obj argument.
GALAXY_GAPS = {
    "update_from_file": ("AttributeError", "cache_updated_data"),
    "size_of_a_remote_object": ("NotImplementedError", "_exists_remotely"),
    "get_filename_downloads": ("ObjectNotFound", "_get_filename"),
    "store_usage_percent": ("TypeError", "_invoke"),
    "delete": ("NotImplementedError", "_exists_remotely"),
}


@pytest.mark.parametrize(("step", "failure"), GALAXY_GAPS.items(), ids=GALAXY_GAPS.keys())
def test_what_galaxys_store_cannot_do(run, step, failure):
    report, _, _ = run
    result = report["by_step"][step]
    assert not result["ok"], (
        f"Galaxy's Pithos+ store now does {step}: update GALAXY_GAPS and the galaxy role's README"
    )
    kind, where = failure
    assert result["error"].startswith(kind) and where in result["error"] + result["where"], result


def test_the_delete_that_fails_leaves_the_object_on_pithos(run):
    report, cloud, _ = run
    assert _ok(report, "exists_after_delete") is True
    assert "000/dataset_2.dat" in cloud.containers["galaxy"].objects


def test_an_existing_container_is_reassigned_to_the_project(tmp_path):
    galaxy_python()
    with PithosDouble(block_size=BLOCK) as cloud:
        cloud.containers["galaxy"] = Container(project=cloud.user)
        _run(tmp_path, cloud, _pithos(cloud))
        assert cloud.containers["galaxy"].project == cloud.project


def test_a_wrong_token_stops_galaxy_with_astakos_answer(tmp_path):
    galaxy_python()
    with PithosDouble(block_size=BLOCK) as cloud:
        store = _pithos(cloud)
        store["auth"]["token"] = "not-the-token"
        proc = _drive(tmp_path, store, b"x")
        report = json.loads(proc.stdout)
        assert not report["store"]["ok"]
        assert "ClientError: authenticating at Astakos: Invalid token (HTTP 401)" in report["store"]["error"]
        assert "not-the-token" not in proc.stdout + proc.stderr

"""Drive Galaxy's own, unmodified Pithos+ object store (galaxy.objectstore.pithos) through the
operations Galaxy performs on a dataset. Runs in the Galaxy test venv with
packages/vre-kamaki-pithos/src on PYTHONPATH (its kamaki.clients), called by
tests/test_galaxy_pithos_store.py against the Pithos+ double:

    python pithos_store.py --object-store-conf O --work DIR --source FILE

The store is built by galaxy.objectstore.build_object_store_from_config from the rendered
object_store_conf.yml (the role's filter). Prints one JSON report: {"store": {...}, "steps":
[{"step", "ok", "value" | "error"}]}; each step runs whatever the previous ones did, and a
failing step is reported (its exception and the frame it came from), not raised. Exit status 0
unless the driver itself breaks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import traceback
from typing import Any


class Dataset:
    """What the object store reads of a dataset: its id (store_by id) and object_store_id."""

    def __init__(self, dataset_id: int) -> None:
        self.id = dataset_id
        self.object_store_id = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--object-store-conf", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--source", required=True)
    args = parser.parse_args(argv)

    from galaxy import objectstore
    from galaxy.config import GalaxyAppConfiguration

    report: dict[str, Any] = {"steps": []}
    config = GalaxyAppConfiguration(
        override_tempdir=False,
        data_dir=args.work,
        file_path=f"{args.work}/objects",
        object_store_config_file=args.object_store_conf,
    )
    try:
        store = objectstore.build_object_store_from_config(config)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        report["store"] = {"ok": False, "error": error, "trace": traceback.format_exc()}
        json.dump(report, sys.stdout, default=str)
        return 0
    backends = list(getattr(store, "backends", {}).values()) or [store]
    pithos = next(b for b in backends if type(b).__name__ == "PithosObjectStore")
    report["store"] = {
        "ok": True,
        "class": f"{type(pithos).__module__}.{type(pithos).__name__}",
        "kamaki": sys.modules["kamaki.clients"].__file__,
        "container": pithos.pithos.container,
        "account": pithos.pithos.account,
    }
    with open(args.source, "rb") as f:
        source = f.read()

    def cache_of(ds: Dataset) -> str:
        return os.path.join(pithos.staging_path, "000", f"dataset_{ds.id}.dat")

    def drop_cache(ds: Dataset) -> bool:
        os.unlink(cache_of(ds))
        return True

    def write_cache(ds: Dataset) -> int:
        """As a job writes an output: into the path Galaxy gives it, here the store's cache."""
        os.makedirs(os.path.dirname(cache_of(ds)), exist_ok=True)
        with open(cache_of(ds), "wb") as f:
            return f.write(source)

    def digest(text: str) -> dict[str, Any]:
        data = text.encode()
        return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}

    one, two = Dataset(1), Dataset(2)
    steps = [
        # Dataset 1: Galaxy's own way of storing a dataset (uploads, job outputs).
        ("create", lambda: store.create(one) and store.exists(one)),
        ("update_from_file", lambda: store.update_from_file(one, file_name=args.source, create=True)),
        # Dataset 2: the store's own upload of a file in its cache that Pithos+ does not have.
        ("write_cache", lambda: write_cache(two)),
        ("exists_uploads_the_cached_file", lambda: store.exists(two)),
        ("drop_cache", lambda: drop_cache(two)),
        ("get_data_downloads", lambda: digest(store.get_data(two))),
        ("size_from_the_cache", lambda: store.size(two)),
        ("get_object_url", lambda: store.get_object_url(two)),
        ("drop_cache_again", lambda: drop_cache(two)),
        ("size_of_a_remote_object", lambda: store.size(two)),
        ("get_filename_downloads", lambda: store.get_filename(two)),
        ("store_usage_percent", pithos.get_store_usage_percent),  # the backend: nested stores have none
        ("delete", lambda: store.delete(two)),
        ("exists_after_delete", lambda: store.exists(two)),
    ]
    for name, step in steps:
        try:
            report["steps"].append({"step": name, "ok": True, "value": step()})
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            report["steps"].append(
                {
                    "step": name,
                    "ok": False,
                    "error": f"{type(exc).__name__}: {exc}",
                    "where": f"{os.path.basename(frame.filename)}:{frame.lineno} {frame.name}",
                }
            )
    json.dump(report, sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The build backend of vre-kamaki-pithos (PEP 517 and PEP 660), standard library only.

pip and uv call it from pyproject.toml (`backend-path = ["."]`), so installing this directory needs
nothing from an index. The wheel is reproducible: entries sorted, fixed timestamps and modes, so
the same sources give the same bytes (the galaxy role copies it to a host and reinstalls it only
when it changes). Also a command: `python vre_build.py DIR` builds the wheel into DIR and prints
its path.
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
EPOCH = (1980, 1, 1, 0, 0, 0)


def _project() -> dict:
    with open(HERE / "pyproject.toml", "rb") as f:
        data = tomllib.load(f)
    return {**data["project"], "packages": data["tool"]["vre-build"]["packages"]}


def _dist(project: dict) -> str:
    return f"{project['name'].replace('-', '_')}-{project['version']}"


def _metadata(project: dict) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {project['name']}",
        f"Version: {project['version']}",
        f"Summary: {project['description']}",
        f"Requires-Python: {project['requires-python']}",
        "Description-Content-Type: text/markdown",
        "",
        (HERE / project["readme"]).read_text(),
    ]
    return "\n".join(lines)


def _sources(project: dict) -> list[Path]:
    files = []
    for package in project["packages"]:
        files += [p for p in (SRC / package).rglob("*.py") if "__pycache__" not in p.parts]
    return sorted(files)


def _write_wheel(wheel_directory: str, entries: dict[str, bytes], project: dict) -> str:
    dist = _dist(project)
    info = f"{dist}.dist-info"
    entries = dict(entries)
    entries[f"{info}/METADATA"] = _metadata(project).encode()
    entries[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: vre_build\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for name, data in sorted(entries.items()):
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    entries[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    name = f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(Path(wheel_directory) / name, "w", zipfile.ZIP_DEFLATED) as whl:
        for path, data in sorted(entries.items()):
            item = zipfile.ZipInfo(path, EPOCH)
            item.external_attr = 0o644 << 16
            item.compress_type = zipfile.ZIP_DEFLATED
            whl.writestr(item, data)
    return name


def get_requires_for_build_wheel(config_settings=None) -> list[str]:
    return []


get_requires_for_build_sdist = get_requires_for_build_editable = get_requires_for_build_wheel


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None) -> str:
    project = _project()
    entries = {p.relative_to(SRC).as_posix(): p.read_bytes() for p in _sources(project)}
    return _write_wheel(wheel_directory, entries, project)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None) -> str:
    """A wheel with one .pth file: the venv imports the sources in place."""
    project = _project()
    pth = {f"{project['name'].replace('-', '_')}.pth": f"{SRC}\n".encode()}
    return _write_wheel(wheel_directory, pth, project)


def build_sdist(sdist_directory, config_settings=None) -> str:
    project = _project()
    dist = _dist(project)
    files = [HERE / "pyproject.toml", HERE / "README.md", HERE / "vre_build.py", *_sources(project)]
    name = f"{dist}.tar.gz"
    with tarfile.open(Path(sdist_directory) / name, "w:gz") as tar:
        for path in files:
            data = path.read_bytes()
            item = tarfile.TarInfo(f"{dist}/{path.relative_to(HERE).as_posix()}")
            item.size, item.mode, item.mtime = len(data), 0o644, 0
            tar.addfile(item, io.BytesIO(data))
    return name


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python vre_build.py WHEEL_DIRECTORY")
    Path(sys.argv[1]).mkdir(parents=True, exist_ok=True)
    print(Path(sys.argv[1]).resolve() / build_wheel(sys.argv[1]))

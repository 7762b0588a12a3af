"""The offline Kubernetes mirror, built on this machine from Go modules (no image registry needed).

No download site and no image registry is reachable from these machines, but the Go module proxy
is: kubeadm, kubelet, kubectl, the control-plane binaries, etcd, CoreDNS and flannel are built
from their modules here, the pause container from the C source in the kubernetes module, and the
images are written as archives that `ctr images import` reads. The result has the shape an
air-gapped install uses (kubespray's offline mode: files, images, checksums):

    <cache>/kube-mirror/v<kubernetes>/
        kubeadm kubelet kubectl       host binaries: role kube_common's `mirror` install source
        images/<name>.tar             image archives (docker-archive format), one per image
        images.json                   each archive's image reference and which nodes need it
        MANIFEST.json                 component versions and the recipe this mirror was built from
        SHA256SUMS                    every file above (sha256sum format)

The cache (``$VRE_CACHE_DIR``, default /var/cache/vre) is outside the clone; a mirror whose
SHA256SUMS verify and whose recipe matches is reused as it is. Go's module and build caches stay
where Go keeps them (``go env GOMODCACHE GOCACHE``), so a rebuild after a recipe change is fast.

Each upstream Go module that refers to local sibling modules with ``replace`` (kubernetes'
``./staging``, etcd's ``../api``...) cannot be built with ``go install mod@version``: a wrapper
module is generated for it, requiring that release and replacing each sibling with its published
version, the list read from that release's own go.mod (``go mod edit -json``), so it follows the
release. Upstream's other replace directives are copied, since a dependency's replace directives
do not apply to the module that requires it.

The images are named under IMAGE_REPOSITORY, a name that resolves nowhere: they are this
machine's builds, not upstream's, and a missing image fails at once instead of reaching out.

CLI (``python -m vrecloud.kube_mirror ...``):
  build [--cache DIR] [--force]   build the mirror or reuse a verified one; print its directory
  path [--cache DIR]              print the directory a build would use (nothing is built)
  verify DIR                      check SHA256SUMS and the recipe; exit 1 naming what differs
  toolchain                       exit 0 if a Go toolchain is there, else print why not
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from vrecloud import image as base_image

# Versions. Kubernetes 1.35 is the last minor that supports containerd 1.x (Debian 12 ships
# containerd 1.6): 1.36 needs containerd 2, whose OOM-score handling cannot work where no process
# can lower oom_score_adj (docs/kubernetes.md, "Choosing the version"). etcd, CoreDNS and flannel
# are the releases nearest to what kubeadm 1.35 names (etcd 3.6.6, CoreDNS 1.13.1) that the Go
# module proxy serves here.
KUBERNETES_VERSION = "1.35.4"
ETCD_VERSION = "3.6.8"
COREDNS_VERSION = "1.14.3"
FLANNEL_VERSION = "0.28.4"
PAUSE_VERSION = "3.10.1"

IMAGE_REPOSITORY = "kube-mirror.vre.invalid"

# Bump when the layout or the way images are made changes: a mirror of another format is rebuilt.
MIRROR_FORMAT = 1

# Debian packages of the image that kube-proxy and flannel run in (they call iptables and nft).
NETBASE_PACKAGES = ["iptables", "nftables", "conntrack", "iproute2", "ca-certificates"]
NETBASE_PRUNE = ["usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "var/cache/debconf"]

HOST_BINARIES = ("kubeadm", "kubelet", "kubectl")
DEFAULT_CACHE = "/var/cache/vre"
BUILD_DATE = "2026-01-01T00:00:00Z"  # fixed, so that a rebuild gives the same binaries


@dataclass(frozen=True)
class GoComponent:
    """A Go module whose commands are built through a generated wrapper module."""

    name: str
    module: str
    version: str  # with the leading v
    commands: dict[str, str]  # binary name -> package path
    # The version of sibling modules that upstream replaces with local paths and requires at
    # v0.0.0 (kubernetes' staging modules); a sibling required at a real version keeps it.
    sibling_version: str = ""
    ldflags: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    # cgo (linked statically): flannel's udp backend is C, and upstream builds flanneld with it.
    cgo: bool = False
    # Transitive modules required at a newer version than upstream's, because the Go module proxy
    # reachable here does not serve upstream's: (module, version, why). Said in docs/kubernetes.md.
    bumps: tuple[tuple[str, str, str], ...] = ()


def _kube_ldflags(version: str) -> tuple[str, ...]:
    major, minor, _ = version.split(".")
    out: list[str] = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        out += [
            f"-X {pkg}.gitVersion=v{version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate={BUILD_DATE}",
        ]
    return tuple(out)


KUBE_COMMANDS = (
    "kubeadm",
    "kubelet",
    "kubectl",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kube-proxy",
)

COMPONENTS: tuple[GoComponent, ...] = (
    GoComponent(
        name="kubernetes",
        module="k8s.io/kubernetes",
        version=f"v{KUBERNETES_VERSION}",
        commands={c: f"k8s.io/kubernetes/cmd/{c}" for c in KUBE_COMMANDS},
        sibling_version="v0." + KUBERNETES_VERSION.split(".", 1)[1],
        ldflags=_kube_ldflags(KUBERNETES_VERSION),
        tags=("selinux", "notest"),
    ),
    GoComponent(
        name="etcd",
        module="go.etcd.io/etcd/server/v3",
        version=f"v{ETCD_VERSION}",
        commands={"etcd": "go.etcd.io/etcd/server/v3"},
    ),
    GoComponent(
        name="coredns",
        module="github.com/coredns/coredns",
        version=f"v{COREDNS_VERSION}",
        commands={"coredns": "github.com/coredns/coredns"},
    ),
    GoComponent(
        name="flannel",
        module="github.com/flannel-io/flannel",
        version=f"v{FLANNEL_VERSION}",
        commands={"flanneld": "github.com/flannel-io/flannel"},
        ldflags=(
            f"-X github.com/flannel-io/flannel/pkg/version.Version=v{FLANNEL_VERSION}",
            "-extldflags=-static",
        ),
        tags=("netgo", "osusergo"),
        cgo=True,
        bumps=(
            (
                "github.com/tencentcloud/tencentcloud-sdk-go/tencentcloud/common",
                "v1.3.211",
                "v1.3.79 is not served by the module proxy; only the tencentvpc backend (unused) imports it",
            ),
        ),
    ),
)


@dataclass(frozen=True)
class ImageSpec:
    """One image of the mirror: binaries (from the build) at paths, on a base."""

    name: str  # archive name, images/<name>.tar
    ref: str
    files: dict[str, str]  # path in the image -> binary name in the build
    base: str = "static"  # static (a few /etc files) or netbase (Debian with iptables)
    entrypoint: tuple[str, ...] = ()
    nodes: str = "all"  # all, or control-plane: the kubelets that run it
    env: tuple[str, ...] = field(
        default=("PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",)
    )


def _repo(name: str, tag: str) -> str:
    return f"{IMAGE_REPOSITORY}/{name}:{tag}"


IMAGES: tuple[ImageSpec, ...] = (
    *(
        ImageSpec(c, _repo(c, f"v{KUBERNETES_VERSION}"), {f"usr/local/bin/{c}": c}, nodes="control-plane")
        for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    ),
    ImageSpec(
        "kube-proxy",
        _repo("kube-proxy", f"v{KUBERNETES_VERSION}"),
        {"usr/local/bin/kube-proxy": "kube-proxy"},
        base="netbase",
    ),
    ImageSpec(
        "etcd", _repo("etcd", f"{ETCD_VERSION}-0"), {"usr/local/bin/etcd": "etcd"}, nodes="control-plane"
    ),
    ImageSpec(
        "coredns", _repo("coredns", f"v{COREDNS_VERSION}"), {"coredns": "coredns"}, entrypoint=("/coredns",)
    ),
    ImageSpec("pause", _repo("pause", PAUSE_VERSION), {"pause": "pause"}, entrypoint=("/pause",)),
    ImageSpec(
        "flannel",
        _repo("flannel", f"v{FLANNEL_VERSION}"),
        {"opt/bin/flanneld": "flanneld"},
        base="netbase",
        entrypoint=("/opt/bin/flanneld",),
    ),
)


def image_index() -> list[dict[str, str]]:
    """images.json without the image IDs: each archive, its reference and the nodes that run it."""
    return [
        {"name": i.name, "archive": f"images/{i.name}.tar", "ref": i.ref, "nodes": i.nodes} for i in IMAGES
    ]


class MirrorError(RuntimeError):
    """A failure with a message meant for the operator."""


def recipe() -> dict[str, object]:
    """Everything that determines the mirror's content."""
    return {
        "format": MIRROR_FORMAT,
        "kubernetes": KUBERNETES_VERSION,
        "etcd": ETCD_VERSION,
        "coredns": COREDNS_VERSION,
        "flannel": FLANNEL_VERSION,
        "pause": PAUSE_VERSION,
        "image_repository": IMAGE_REPOSITORY,
        "netbase": NETBASE_PACKAGES,
        "debian_mirror": base_image.MIRROR,
    }


def mirror_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    root = Path(cache or os.environ.get("VRE_CACHE_DIR") or DEFAULT_CACHE)
    return root / "kube-mirror" / f"v{KUBERNETES_VERSION}"


def _log(msg: str) -> None:
    print(f"kube-mirror: {msg}", file=sys.stderr, flush=True)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "-mod=mod")
    env["GOTOOLCHAIN"] = env.get("GOTOOLCHAIN", "local")
    return env


def toolchain_problem() -> str:
    """Why no mirror can be built here ('' when a Go toolchain answers)."""
    go = shutil.which("go")
    if go is None:
        return "no Go toolchain: `go` is not on PATH (install Go 1.25 or newer)"
    proc = subprocess.run([go, "version"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return f"`go version` failed: {proc.stderr.strip()}"
    return ""


def _run(cmd: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(list(cmd), cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise MirrorError(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{proc.stderr.strip()[-4000:]}")
    return proc.stdout


# --- The wrapper modules ---------------------------------------------------------------------------


def wrapper_go_mod(component: GoComponent, upstream: dict) -> str:
    """The wrapper module's go.mod for `component`, from upstream's go.mod (`go mod edit -json`)."""
    required = {r["Path"]: r["Version"] for r in upstream.get("Require") or []}
    lines = [
        f"// Generated by vrecloud/kube_mirror.py from {component.module}@{component.version}'s go.mod.",
        f"module vre.invalid/kube-mirror/{component.name}",
        "",
        f"go {upstream.get('Go') or '1.24'}",
        "",
        f"require {component.module} {component.version}",
        "",
    ]
    for module, version, why in component.bumps:
        lines += [f"// {why}", f"require {module} {version}", ""]
    for rep in upstream.get("Replace") or []:
        old, new = rep["Old"]["Path"], rep["New"]
        if new["Path"].startswith((".", "/")):
            version = required.get(old, "")
            if version in ("", "v0.0.0"):
                version = component.sibling_version if old in required else ""
            if not version:
                continue  # a path upstream only forbids (etcd's FORBIDDEN_DEPENDENCY)
            lines.append(f"replace {old} => {old} {version}")
        else:
            old_v = f" {rep['Old']['Version']}" if rep["Old"].get("Version") else ""
            lines.append(f"replace {old}{old_v} => {new['Path']} {new.get('Version', '')}".rstrip())
    return "\n".join(lines) + "\n"


def wrapper_tools_go(component: GoComponent) -> str:
    imports = "".join(f'\t_ "{pkg}"\n' for pkg in component.commands.values())
    return (
        "//go:build tools\n\n"
        "// Package tools names the commands the wrapper module builds, so that `go mod tidy` keeps\n"
        "// their dependencies (the file itself is never compiled).\n"
        f"package tools\n\nimport (\n{imports})\n"
    )


def upstream_go_mod(component: GoComponent, env: dict[str, str]) -> dict:
    info = json.loads(
        _run(["go", "mod", "download", "-json", f"{component.module}@{component.version}"], env=env)
    )
    if info.get("Error"):
        raise MirrorError(
            f"the Go module proxy did not serve {component.module}@{component.version}: {info['Error']}"
        )
    return json.loads(_run(["go", "mod", "edit", "-json", info["GoMod"]], env=env))


def build_component(component: GoComponent, work: Path, out: Path, env: dict[str, str]) -> None:
    src = work / "src" / f"{component.name}-{component.version}"
    src.mkdir(parents=True, exist_ok=True)
    (src / "go.mod").write_text(wrapper_go_mod(component, upstream_go_mod(component, env)))
    (src / "tools.go").write_text(wrapper_tools_go(component))
    env = {**env, "CGO_ENABLED": "1" if component.cgo else "0"}
    _run(["go", "mod", "tidy"], cwd=src, env=env)
    ldflags = " ".join(("-s", "-w", *component.ldflags))
    pkgs = list(component.commands.values())
    # Several packages: -o names a directory. One: -o names the file (the binary's name may differ
    # from the package's).
    target = str(out) + "/" if len(pkgs) > 1 else str(out / next(iter(component.commands)))
    cmd = ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", target]
    if component.tags:
        cmd += ["-tags", ",".join(component.tags)]
    _run([*cmd, *pkgs], cwd=src, env=env)
    for binary in component.commands:
        if not (out / binary).is_file():
            raise MirrorError(f"go build of {component.module} did not produce {binary}")


def build_pause(out: Path, env: dict[str, str]) -> None:
    kube = next(c for c in COMPONENTS if c.name == "kubernetes")
    info = json.loads(_run(["go", "mod", "download", "-json", f"{kube.module}@{kube.version}"], env=env))
    source = Path(info["Dir"]) / "build/pause/linux/pause.c"
    gcc = shutil.which("gcc")
    if gcc is None:
        raise MirrorError("gcc is missing (the pause container is C): apt-get install gcc libc6-dev")
    _run(
        [
            gcc,
            "-Os",
            "-Wall",
            "-Werror",
            "-static",
            f"-DVERSION=v{PAUSE_VERSION}",
            "-o",
            str(out / "pause"),
            str(source),
        ]
    )
    _run(["strip", str(out / "pause")])


# --- Image archives (docker-archive format, as `docker save` writes and `ctr images import` reads) --


def _tarinfo(
    name: str, *, size: int = 0, mode: int = 0o644, kind: bytes = tarfile.REGTYPE
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.type = size, mode, kind
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


STATIC_FILES = {
    "etc/passwd": (
        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    ),
    "etc/group": "root:x:0:\nnobody:x:65534:\n",
    "etc/nsswitch.conf": "hosts: files dns\n",
}


def _static_layer(path: Path) -> None:
    """The base of the images of static binaries: what a distroless base has, minus libc."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("etc", "tmp", "root", "var", "var/run"):
            tar.addfile(_tarinfo(d + "/", mode=0o1777 if d == "tmp" else 0o755, kind=tarfile.DIRTYPE))
        for name, text in STATIC_FILES.items():
            data = text.encode()
            tar.addfile(_tarinfo(name, size=len(data)), io.BytesIO(data))


def _files_layer(path: Path, files: dict[str, Path]) -> None:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(p).parent) for p in files} - {"."})
        made: set[str] = set()
        for d in dirs:
            parts = Path(d).parts
            for i in range(1, len(parts) + 1):
                sub = "/".join(parts[:i])
                if sub not in made:
                    tar.addfile(_tarinfo(sub + "/", mode=0o755, kind=tarfile.DIRTYPE))
                    made.add(sub)
        for dest, src in sorted(files.items()):
            with src.open("rb") as fh:
                tar.addfile(_tarinfo(dest, size=src.stat().st_size, mode=0o755), fh)


def _netbase_layer(path: Path, work: Path) -> None:
    """Debian 12 minbase with iptables, nft and conntrack: the base of kube-proxy and flannel."""
    with tempfile.TemporaryDirectory(prefix="vre-netbase-", dir=work) as tmp:
        root = Path(tmp) / "root"
        base_image.debootstrap(root, NETBASE_PACKAGES)
        for sub in NETBASE_PRUNE:
            shutil.rmtree(root / sub, ignore_errors=True)
        skip = {"dev", "proc", "sys", "run"}

        def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
            top = info.name.split("/", 1)
            if top[0] in skip and len(top) > 1 and top[1]:
                return None  # the runtime mounts these; device nodes cannot be unpacked everywhere
            info.uname = info.gname = ""
            return info

        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
            for entry in sorted(os.listdir(root)):
                tar.add(root / entry, arcname=entry, filter=keep)


def write_image_archive(dest: Path, spec: ImageSpec, layers: Sequence[Path]) -> str:
    """A docker-archive of `layers` tagged spec.ref; returns the image's config digest."""
    diff_ids = [f"sha256:{_sha256(layer)}" for layer in layers]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": BUILD_DATE,
        "config": {
            "Env": list(spec.env),
            **({"Entrypoint": list(spec.entrypoint)} if spec.entrypoint else {}),
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": BUILD_DATE, "created_by": "vrecloud/kube_mirror.py"} for _ in layers],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_digest = hashlib.sha256(config_bytes).hexdigest()
    layer_names = [f"{d.split(':', 1)[1]}/layer.tar" for d in diff_ids]
    manifest = [{"Config": f"{config_digest}.json", "RepoTags": [spec.ref], "Layers": layer_names}]
    manifest_bytes = json.dumps(manifest, separators=(",", ":")).encode()
    with tarfile.open(dest, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, layer in zip(layer_names, layers, strict=True):
            tar.addfile(_tarinfo(name.split("/")[0] + "/", mode=0o755, kind=tarfile.DIRTYPE))
            with layer.open("rb") as fh:
                tar.addfile(_tarinfo(name, size=layer.stat().st_size), fh)
        tar.addfile(_tarinfo(f"{config_digest}.json", size=len(config_bytes)), io.BytesIO(config_bytes))
        tar.addfile(_tarinfo("manifest.json", size=len(manifest_bytes)), io.BytesIO(manifest_bytes))
    return f"sha256:{config_digest}"


# --- The mirror ------------------------------------------------------------------------------------


def verify(directory: Path) -> list[str]:
    """What is wrong with the mirror in `directory` ([] when its checksums and recipe hold)."""
    sums = directory / "SHA256SUMS"
    if not sums.is_file():
        return [f"{sums} is missing"]
    problems = []
    listed = set()
    for line in sums.read_text().splitlines():
        if not line.strip():
            continue
        digest, name = line.split(None, 1)
        name = name.lstrip("*")
        listed.add(name)
        path = directory / name
        if not path.is_file():
            problems.append(f"{name} is listed in SHA256SUMS but missing")
        elif _sha256(path) != digest:
            problems.append(f"{name} does not match its SHA-256 in SHA256SUMS")
    wanted = {"MANIFEST.json", "images.json", *HOST_BINARIES, *(f"images/{i.name}.tar" for i in IMAGES)}
    problems += [f"SHA256SUMS does not list {name}" for name in sorted(wanted - listed)]
    if not problems:
        have = json.loads((directory / "MANIFEST.json").read_text()).get("recipe")
        if have != recipe():
            problems.append("it was built from another recipe (versions or format differ)")
    return problems


def _write_sums(directory: Path) -> None:
    files = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    lines = [f"{_sha256(directory / f)}  {f}" for f in files if f != "SHA256SUMS"]
    (directory / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def build(
    cache: str | os.PathLike[str] | None = None, *, force: bool = False
) -> tuple[Path, dict[str, float]]:
    """Build the mirror, or reuse a verified one; return its directory and the step timings (s)."""
    target = mirror_dir(cache)
    timings: dict[str, float] = {}
    started = time.monotonic()
    if not force and not verify(target):
        _log(f"reusing {target} (SHA256SUMS verified, same recipe)")
        timings["total"] = time.monotonic() - started
        return target, timings
    problem = toolchain_problem()
    if problem:
        raise MirrorError(problem)
    work = target.parent / "work"
    bin_dir = work / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    env = _go_env()
    for component in COMPONENTS:
        t0 = time.monotonic()
        _log(f"building {', '.join(component.commands)} from {component.module}@{component.version}")
        build_component(component, work, bin_dir, env)
        timings[component.name] = time.monotonic() - t0
    t0 = time.monotonic()
    build_pause(bin_dir, env)
    timings["pause"] = time.monotonic() - t0

    t0 = time.monotonic()
    layers = work / "layers"
    layers.mkdir(exist_ok=True)
    static = layers / "static.tar"
    _static_layer(static)
    netbase = (
        layers
        / f"netbase-{hashlib.sha256(json.dumps(recipe(), sort_keys=True).encode()).hexdigest()[:12]}.tar"
    )
    if not netbase.is_file():
        _log("making the Debian base of kube-proxy and flannel (debootstrap)")
        partial = netbase.with_suffix(".partial")
        _netbase_layer(partial, work)
        partial.rename(netbase)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    staging.chmod(0o755)
    try:
        (staging / "images").mkdir()
        index = image_index()
        for spec, entry in zip(IMAGES, index, strict=True):
            files_layer = layers / f"{spec.name}.tar"
            _files_layer(files_layer, {dest: bin_dir / binary for dest, binary in spec.files.items()})
            base = static if spec.base == "static" else netbase
            entry["id"] = write_image_archive(staging / entry["archive"], spec, [base, files_layer])
        timings["images"] = time.monotonic() - t0
        for binary in HOST_BINARIES:
            shutil.copy2(bin_dir / binary, staging / binary)
            (staging / binary).chmod(0o755)
        (staging / "images.json").write_text(json.dumps(index, indent=2) + "\n")
        manifest = {
            "recipe": recipe(),
            "built_with": _run(["go", "version"], env=env).strip(),
            "components": {c.name: f"{c.module}@{c.version}" for c in COMPONENTS},
            "images": {i["name"]: i["ref"] for i in index},
        }
        (staging / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _write_sums(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    timings["total"] = time.monotonic() - started
    return target, timings


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vrecloud.kube_mirror", description=__doc__.split("\n")[0]
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_build = sub.add_parser("build", help="build the mirror or reuse a verified one; print its directory")
    p_build.add_argument("--cache")
    p_build.add_argument("--force", action="store_true", help="rebuild even when a verified mirror exists")
    p_path = sub.add_parser("path", help="print the mirror's directory")
    p_path.add_argument("--cache")
    p_verify = sub.add_parser("verify", help="check a mirror's SHA256SUMS and recipe")
    p_verify.add_argument("directory")
    sub.add_parser("toolchain", help="exit 0 when a Go toolchain answers, else print why not")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        if args.cmd == "build":
            directory, timings = build(args.cache, force=args.force)
            steps = ", ".join(f"{k} {v:.0f}s" for k, v in timings.items() if k != "total")
            _log(f"mirror ready in {timings['total']:.0f}s{' (' + steps + ')' if steps else ''}: {directory}")
            print(directory)
        elif args.cmd == "path":
            print(mirror_dir(args.cache))
        elif args.cmd == "verify":
            problems = verify(Path(args.directory))
            for p in problems:
                print(f"{args.directory}: {p}", file=sys.stderr)
            return 1 if problems else 0
        elif args.cmd == "toolchain":
            problem = toolchain_problem()
            if problem:
                print(problem)
                return 1
    except MirrorError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

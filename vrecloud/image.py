"""Build the Debian 12 systemd base image without any image registry.

The root filesystem comes from Debian's mirror via debootstrap and is turned into an image with
`docker import`. The machine's extra CA certificates (/usr/local/share/ca-certificates) are copied
in and trusted when present, so containers can reach PyPI through an intercepting proxy.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

IMAGE = os.environ.get("VRE_BASE_IMAGE", "vre/debian12-systemd:latest")
MIRROR = os.environ.get("VRE_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SECURITY_MIRROR = os.environ.get("VRE_DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security")
SUITE = "bookworm"
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")

# What every "VM" needs for Ansible and systemd; roles install the rest.
PACKAGES = [
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "python3-apt",
    "sudo",
    "iproute2",
    "iputils-ping",
    "procps",
    "ca-certificates",
    "gnupg",
    "curl",
    "less",
]

# Units that make no sense in a container and only slow boot or fail.
MASKED_UNITS = [
    "getty.target",
    "console-getty.service",
    "systemd-logind.service",
    "systemd-udevd.service",
    "systemd-udevd-control.socket",
    "systemd-udevd-kernel.socket",
    "systemd-remount-fs.service",
    "sys-kernel-config.mount",
    "sys-kernel-debug.mount",
    "sys-kernel-tracing.mount",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
]


def _ca_files() -> list[Path]:
    if not LOCAL_CA_DIR.is_dir():
        return []
    return sorted(p for p in LOCAL_CA_DIR.rglob("*.crt") if p.is_file())


def recipe_hash() -> str:
    """A digest of everything that determines the image, stored as a label."""
    h = hashlib.sha256()
    h.update(Path(__file__).read_bytes())
    h.update(MIRROR.encode())
    h.update(SECURITY_MIRROR.encode())
    for ca in _ca_files():
        h.update(ca.name.encode())
        h.update(ca.read_bytes())
    return h.hexdigest()[:16]


def image_is_current(image: str = IMAGE) -> bool:
    out = subprocess.run(
        ["docker", "image", "inspect", "-f", '{{index .Config.Labels "vre.recipe"}}', image],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.returncode == 0 and out.stdout.strip() == recipe_hash()


def _run(cmd: list[str], **kw) -> None:
    """Run a build step; what it prints goes to stderr, like this module's own progress: stdout
    is kept for results (`python -m vrecloud.kube_mirror build` prints the mirror's path there,
    and ./vre reads it)."""
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, stdout=sys.stderr, **kw)


def debootstrap(root: Path, packages: list[str]) -> Path:
    """A Debian 12 minbase root filesystem with `packages` in `root`, apt set up for this machine.

    The one place that makes a Debian root filesystem: the base image of the "VMs" and the
    Debian-based images of the Kubernetes mirror (vrecloud/kube_mirror.py) are both made here.
    """
    if shutil.which("debootstrap") is None:
        raise SystemExit("debootstrap is missing: run `apt-get install debootstrap` (./vre bootstrap does)")
    _run(["debootstrap", "--variant=minbase", "--include=" + ",".join(packages), SUITE, str(root), MIRROR])
    (root / "etc/apt/sources.list").write_text(
        f"deb {MIRROR} {SUITE} main\n"
        f"deb {MIRROR} {SUITE}-updates main\n"
        f"deb {SECURITY_MIRROR} {SUITE}-security main\n"
    )
    # Keep images small and apt quiet.
    (root / "etc/apt/apt.conf.d/90vre").write_text(
        'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
    )
    for ca in _ca_files():
        shutil.copy2(ca, root / "usr/local/share/ca-certificates" / ca.name)
    if _ca_files():
        _run(["chroot", str(root), "update-ca-certificates"])
    _run(["chroot", str(root), "apt-get", "clean"])
    for sub in ("var/lib/apt/lists", "var/cache/apt/archives", "var/cache/apt"):
        for p in (root / sub).glob("*"):
            if p.is_file():
                p.unlink()
    # The lists are gone: make the package cache look stale, so that a role's
    # `apt: update_cache: true, cache_valid_time: N` refreshes it on first use.
    os.utime(root / "var/lib/apt/lists", (0, 0))
    return root


def build(image: str = IMAGE, force: bool = False) -> str:
    """Build the base image unless an identical one exists; return its name."""
    if not force and image_is_current(image):
        print(f"base image {image} is current", file=sys.stderr)
        return image
    with tempfile.TemporaryDirectory(prefix="vre-rootfs-", dir="/var/tmp") as tmp:
        root = Path(tmp) / "root"
        debootstrap(root, PACKAGES)
        for unit in MASKED_UNITS:
            link = root / "etc/systemd/system" / unit
            if not link.exists():
                link.symlink_to("/dev/null")
        # Each container gets its own machine-id at first boot.
        (root / "etc/machine-id").write_text("")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        _run(
            [
                "docker",
                "import",
                "-c",
                'CMD ["/lib/systemd/systemd"]',
                "-c",
                "ENV container=docker",
                "-c",
                f"LABEL vre.recipe={recipe_hash()}",
                "-",
                image,
            ],
            stdin=tar.stdout,
        )
        if tar.wait() != 0:
            raise SystemExit("tar of the root filesystem failed")
    return image


if __name__ == "__main__":
    build(force="--force" in sys.argv)

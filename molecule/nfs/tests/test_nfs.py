"""Behaviour of the NFS server and clients, checked across hosts.

Where the kernel has no NFS client (containers on this machine), the kernel mount checks are
skipped with the reason printed, and the protocol checks run through libnfs in user space.
"""

import uuid

import pytest
from vre_testinfra import CLUSTER_DEFAULTS, host_fixture

EXPORT = "/srv/vre/galaxy"
GALAXY_UID = CLUSTER_DEFAULTS["vre_galaxy_uid"]

testinfra_hosts = ["ansible://nfs-client-1"]


server = host_fixture("server", "nfs-server")


client2 = host_fixture("client2", "nfs-client-2")


outsider = host_fixture("outsider", "nfs-outsider")


def _url(path, uid=GALAXY_UID, gid=GALAXY_UID, version=3):
    return f"nfs://nfs-server{path}?version={version}&uid={uid}&gid={gid}"


def _kernel_has_nfs(h):
    return "nfs" in h.file("/proc/filesystems").content_string.split()


def test_server_answers_on_nfs_port(server):
    assert server.socket("tcp://0.0.0.0:2049").is_listening or server.socket("tcp://:::2049").is_listening


def test_exports_list_only_the_cluster_clients(host, server, client2):
    conf = server.file("/etc/ganesha/vre-exports.conf").content_string
    ip1 = host.interface("eth0").addresses[0]
    ip2 = client2.interface("eth0").addresses[0]
    clients_line = next(line for line in conf.splitlines() if "Clients" in line)
    assert ip1 in clients_line and ip2 in clients_line
    assert "*" not in clients_line


def test_export_owned_by_galaxy_uid(server):
    export = server.file(EXPORT)
    assert export.is_directory
    assert export.uid == GALAXY_UID and export.gid == GALAXY_UID


@pytest.mark.parametrize("version", [3, 4])
def test_file_written_by_one_client_is_read_by_the_other(host, client2, server, version):
    name = f"probe-{uuid.uuid4().hex}.txt"
    payload = f"written by nfs-client-1 over NFSv{version}"
    host.check_output(f"printf '%s' '{payload}' > /tmp/{name}")
    host.check_output(f"nfs-cp /tmp/{name} '{_url(f'{EXPORT}/{name}', version=version)}'")
    read = client2.check_output(f"nfs-cat '{_url(f'{EXPORT}/{name}', version=version)}'")
    assert read == payload
    on_disk = server.file(f"{EXPORT}/{name}")
    assert on_disk.content_string == payload
    assert on_disk.uid == GALAXY_UID


def test_root_is_squashed(host):
    host.check_output("echo root > /tmp/root.txt")
    cmd = host.run(f"nfs-cp /tmp/root.txt '{_url(f'{EXPORT}/root-{uuid.uuid4().hex}', uid=0, gid=0)}'")
    assert cmd.rc != 0, "root on a client must not write to a directory owned by the galaxy user"
    assert "ACCES" in cmd.stdout + cmd.stderr or "PERM" in cmd.stdout + cmd.stderr


@pytest.mark.parametrize("version", [3, 4])
def test_host_outside_the_allowed_list_is_refused(host, outsider, version):
    # The same listing works from an allowed client, so a refusal below is the server's doing.
    host.check_output(f"nfs-ls '{_url(EXPORT, version=version)}'")
    cmd = outsider.run(f"nfs-ls '{_url(EXPORT, version=version)}'")
    assert cmd.rc != 0, f"nfs-outsider listed the export over NFSv{version}: {cmd.stdout}"
    # NFSv3's MOUNT answers ACCES; NFSv4's pseudo-filesystem hides the export (NOENT).
    assert "Failed to mount" in cmd.stderr and any(e in cmd.stderr for e in ("ACCES", "PERM", "NOENT")), (
        cmd.stderr
    )


def test_mount_is_persisted_in_fstab(host):
    fstab = host.file("/etc/fstab").content_string
    line = next(line for line in fstab.splitlines() if f" {EXPORT} " in line)
    fields = line.split()
    assert fields[2] == "nfs"
    assert "hard" in fields[3] and "_netdev" in fields[3]


def test_share_is_mounted_by_the_kernel(host, client2):
    if not _kernel_has_nfs(host):
        pytest.skip(
            "this kernel has no NFS client: the share was NOT mounted (fstab written only); "
            "reads and writes were checked over NFS with libnfs instead"
        )
    mount = host.mount_point(EXPORT)
    assert mount.exists and mount.filesystem.startswith("nfs")
    name = f"mounted-{uuid.uuid4().hex}"
    host.check_output(f"runuser -u galaxy -- sh -c 'echo hello > {EXPORT}/{name}'")
    assert client2.file(f"{EXPORT}/{name}").content_string.strip() == "hello"

"""Behaviour of the Slurm cluster: the controller answers, the worker is idle, and a batch job the
galaxy user submits with sbatch runs on the worker, as the galaxy UID, and writes to the share.

The share is the docker volume both hosts mount at /srv/vre (the scenario's STAND-IN for the NFS
mount, see molecule.yml): the file the job writes on the worker is read on the controller. Jobs
are waited for with `sbatch --wait` and polls bounded by WAIT; no assertion is about timings.
"""

import re
import shlex
import uuid

from vre_testinfra import CLUSTER_DEFAULTS
from vre_testinfra import host as _host

CONTROLLER = "slurm-ctl"
WORKER = "slurm-w1"
GALAXY_UID = CLUSTER_DEFAULTS["vre_galaxy_uid"]
SHARE = "/srv/vre"
WAIT = 120  # seconds: upper bound for a job to be scheduled and finish

testinfra_hosts = [f"ansible://{CONTROLLER}"]


def _as_galaxy(host, command):
    return host.run(f"runuser -u galaxy -- sh -c {shlex.quote(command)}")


def test_the_controller_answers():
    out = _host(CONTROLLER).check_output("scontrol ping")
    assert re.search(r"Slurmctld\(primary\) at slurm-ctl is UP", out), out


def test_the_daemons_run_as_their_users():
    ctl, worker = _host(CONTROLLER), _host(WORKER)
    assert ctl.service("slurmctld").is_running and ctl.service("slurmctld").is_enabled
    assert worker.service("slurmd").is_running and worker.service("slurmd").is_enabled
    assert ctl.check_output("ps -o user= -C slurmctld").split() == ["slurm"]
    for host in (ctl, worker):
        assert host.service("munge").is_running


def test_the_worker_is_idle_with_its_real_cpus_and_memory():
    ctl, worker = _host(CONTROLLER), _host(WORKER)
    state = ctl.check_output(f"sinfo --noheader --nodes {WORKER} --format %T").strip()
    assert state == "idle", state
    node = ctl.check_output(f"scontrol show node {WORKER} --oneliner")
    cpus = int(worker.check_output("nproc --all"))
    assert f"CPUTot={cpus} " in node, node
    memtotal_mb = int(worker.check_output("awk '/^MemTotal/ {print int($2 / 1024)}' /proc/meminfo"))
    real = int(re.search(r"RealMemory=(\d+)", node).group(1))
    assert 0 < real <= memtotal_mb, node
    partition = ctl.check_output("scontrol show partition main --oneliner")
    assert "Default=YES" in partition and f"Nodes={WORKER}" in partition, partition


def test_one_munge_key_on_every_host_and_it_is_secret():
    ctl, worker = _host(CONTROLLER), _host(WORKER)
    sums = set()
    for host in (ctl, worker):
        key = host.file("/etc/munge/munge.key")
        assert (key.user, key.group, key.mode) == ("munge", "munge", 0o400)
        sums.add(host.check_output("sha256sum /etc/munge/munge.key").split()[0])
    assert len(sums) == 1, "the hosts have different munge keys"
    source = ctl.file("/etc/slurm/secrets/munge.key")
    assert (source.user, source.mode) == ("root", 0o600)
    # A credential made on the worker is accepted on the controller.
    cred = worker.check_output("munge -n")
    decoded = ctl.run(f"echo {shlex.quote(cred)} | unmunge")
    assert decoded.rc == 0 and "STATUS:          Success" in decoded.stdout, decoded.stderr


def test_a_galaxy_job_runs_on_the_worker_and_writes_to_the_share():
    ctl = _host(CONTROLLER)
    tag = uuid.uuid4().hex[:8]
    out_dir = f"{SHARE}/slurm-test-{tag}"
    ctl.check_output(f"install -d -o galaxy -g galaxy {out_dir}")
    script = f"id -u > {out_dir}/uid; hostname > {out_dir}/host; echo $SLURMD_NODENAME > {out_dir}/node"
    submitted = _as_galaxy(
        ctl,
        f"sbatch --parsable --wait --time=2 --job-name=vre-verify-{tag} "
        f"--output={out_dir}/%j.out --wrap {shlex.quote(script)}",
    )
    assert submitted.rc == 0, submitted.stderr
    job_id = submitted.stdout.strip().split(";")[0]
    # The record of the finished job (kept MinJobAge seconds): where it ran, as whom, how it ended.
    job = ctl.check_output(f"scontrol show job {job_id} --oneliner")
    assert "JobState=COMPLETED" in job and "ExitCode=0:0" in job, job
    assert f"NodeList={WORKER}" in job, job
    assert f"UserId=galaxy({GALAXY_UID})" in job, job
    # Written on the worker, read here through the share.
    uid_file = ctl.file(f"{out_dir}/uid")
    assert uid_file.uid == GALAXY_UID
    assert uid_file.content_string.strip() == str(GALAXY_UID)
    assert ctl.file(f"{out_dir}/node").content_string.strip() == WORKER
    ctl.check_output(f"rm -rf {out_dir}")


def _poll(host, command, until):
    """Run `command` once a second until its output matches `until`, WAIT seconds at most."""
    return host.run(
        f"for i in $(seq {WAIT}); do out=$({command}); "
        f'if echo "$out" | grep -Eq {shlex.quote(until)}; then echo "$out"; exit 0; fi; sleep 1; done; exit 1'
    )


def test_a_job_has_the_users_groups_of_the_worker():
    """A group the galaxy user has on the worker only (as its docker group is there, with the
    worker's own gid) is the job's: slurmd looks the groups up on the worker."""
    ctl, worker = _host(CONTROLLER), _host(WORKER)
    worker.check_output(
        "groupadd --force vre-verify-only-here && usermod --append --groups vre-verify-only-here galaxy"
    )
    # slurmd caches a user's groups: a membership added while it runs counts after a restart.
    worker.check_output("systemctl restart slurmd")
    assert _poll(ctl, f"sinfo --noheader --nodes {WORKER} --format %T", "^idle$").rc == 0
    try:
        assert ctl.run("getent group vre-verify-only-here").rc != 0
        # A batch job, as Galaxy's CLI runner submits them.
        out = f"{SHARE}/galaxy/slurm-groups-{uuid.uuid4().hex[:8]}.out"  # the export: the galaxy UID's
        got = _as_galaxy(
            ctl, f"sbatch --wait --parsable --time=1 --nodelist={WORKER} --output={out} --wrap 'id -Gn'"
        )
        assert got.rc == 0, got.stderr
        groups = ctl.file(out).content_string.split()
        ctl.run(f"rm -f {out}")
        assert "vre-verify-only-here" in groups, groups
    finally:
        worker.run("gpasswd --delete galaxy vre-verify-only-here; groupdel vre-verify-only-here")


def test_squeue_shows_a_running_job_and_scancel_ends_it():
    ctl = _host(CONTROLLER)
    sleeper = "sbatch --parsable --time=2 --job-name=vre-sleeper --output=/dev/null --wrap 'sleep 300'"
    submitted = _as_galaxy(ctl, sleeper)
    assert submitted.rc == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    try:
        seen = _poll(ctl, f"squeue --noheader --jobs {job_id} --format '%T %N'", "^RUNNING")
        assert seen.rc == 0 and seen.stdout.split() == ["RUNNING", WORKER], seen.stdout
    finally:
        _as_galaxy(ctl, f"scancel {job_id}")
    ended = _poll(ctl, f"scontrol show job {job_id} --oneliner", "JobState=CANCELLED")
    assert ended.rc == 0, ended.stdout


def test_the_configuration_is_the_same_file_everywhere():
    sums = {_host(h).check_output("sha256sum /etc/slurm/slurm.conf").split()[0] for h in (CONTROLLER, WORKER)}
    assert len(sums) == 1

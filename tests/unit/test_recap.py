from vrecloud.recap import changed_tasks, failures, recap

OUTPUT = """
TASK [nfs_server : Render the exports] *****************************************
Monday 23 November 2026  12:18:47 +0000 (0:00:03.614)       0:00:58.666 *******
ok: [vre-galaxy-1]
changed: [vre-mesos-slaves-2]

TASK [common : Install the base packages] **************************************
changed: [vre-galaxy-1] => (item=a)
changed: [vre-galaxy-1] => (item=b)
changed: [vre-x-1 -> vre-galaxy-1]

RUNNING HANDLER [nfs_server : Restart NFS-Ganesha] *****************************
changed: [vre-galaxy-1]

PLAY RECAP *********************************************************************
vre-galaxy-1               : ok=10   changed=2    unreachable=0    failed=0    skipped=3
vre-mesos-slaves-2         : ok=5    changed=1    unreachable=0    failed=0    skipped=0
"""


def test_recap_reads_every_host():
    r = recap(OUTPUT)
    assert r["vre-galaxy-1"] == {"ok": 10, "changed": 2, "unreachable": 0, "failed": 0}
    assert r["vre-mesos-slaves-2"]["changed"] == 1


def test_changed_tasks_per_host_once_per_task():
    c = changed_tasks(OUTPUT)
    assert c["vre-galaxy-1"] == ["common : Install the base packages", "nfs_server : Restart NFS-Ganesha"]
    assert c["vre-mesos-slaves-2"] == ["nfs_server : Render the exports"]
    assert c["vre-x-1"] == ["common : Install the base packages"]


def test_recap_refuses_an_unfinished_run():
    import pytest

    with pytest.raises(ValueError, match="PLAY RECAP"):
        recap("TASK [x] ***\nfatal: [h]: FAILED!")


def test_failures_name_the_task_and_keep_the_message():
    out = (
        "TASK [common : Install] ***\nok: [a]\n"
        "fatal: [b]: FAILED! => changed=false\n    msg: the cache did not answer\n"
        "...ignoring\n"
        "TASK [slurm : Wait] ***\nfailed: [c -> m] (item=x) => changed=false\n  msg: timeout\n"
        "TASK [ok] ***\nok: [a]\n"
    )
    f = failures(out)
    assert f == [
        "common : Install\nfatal: [b]: FAILED! => changed=false\n    msg: the cache did not answer",
        "slurm : Wait\nfailed: [c -> m] (item=x) => changed=false\n  msg: timeout",
    ]
    assert failures(OUTPUT) == []

"""Print, at the top of the verifier's output, which mode the scenario runs in."""

import os


def pytest_report_header(config):
    mirror = os.environ.get("VRE_MESOS_MIRROR")
    if mirror:
        return f"mesos scenario: FULL MODE (VRE_MESOS_MIRROR={mirror}): the daemons are checked over HTTP"
    return (
        "mesos scenario: NO-BINARY MODE (VRE_MESOS_MIRROR not set): flags, credentials and units are "
        "checked; the tests that need the Mesos and Chronos binaries are skipped"
    )

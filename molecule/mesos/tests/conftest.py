"""Print, at the top of the verifier's output, which mode the scenario runs in."""

from vre_testinfra import mode_header


def pytest_report_header(config):
    return mode_header(
        "mesos",
        "VRE_MESOS_MIRROR",
        full="the daemons are checked over HTTP",
        no_binary="flags, credentials and units are checked; the tests that need the Mesos and Chronos "
        "binaries are skipped",
    )

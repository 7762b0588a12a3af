import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# tests/e2e brings up the whole VRE on the local provider (minutes, containers): collected only
# when VRE_E2E=1, which `./vre e2e` (and so `./vre test`) sets.
collect_ignore_glob = [] if os.environ.get("VRE_E2E") == "1" else ["e2e/*"]


# Issue 14 asks the suite to say how many bad inputs and cloud faults it tried: tests marked
# `bad_input` (refused before any change) and `fault_case` (a cloud fault survived) are counted
# when they pass, and the counts printed at the end of the run.
_COUNTED = {"bad_input": "bad inputs refused before any change", "fault_case": "cloud fault cases survived"}
_passed = dict.fromkeys(_COUNTED, 0)


def pytest_configure(config):
    for mark, what in _COUNTED.items():
        config.addinivalue_line("markers", f"{mark}: counted in the summary line '{what}'")


def pytest_runtest_logreport(report):
    if report.when == "call" and report.passed:
        for mark in _COUNTED:
            if mark in report.keywords:
                _passed[mark] += 1


def pytest_terminal_summary(terminalreporter):
    if any(_passed.values()):
        terminalreporter.write_line("; ".join(f"{what}: {_passed[m]}" for m, what in _COUNTED.items()))


# The cloud tests' fixtures (tests/doubles/harness.py): `cloud` is each cloud's HTTP double in turn,
# or the clouds a module names in CLOUDS; its VMs boot after the module's BOOT_LATENCY seconds
# (default 0.2). `cluster` is a new cluster name per test.
CLOUDS = ("openstack", "okeanos")


def pytest_generate_tests(metafunc):
    if "cloud" in metafunc.fixturenames:
        metafunc.parametrize("cloud", getattr(metafunc.module, "CLOUDS", CLOUDS), indirect=True)


@pytest.fixture
def cloud(request, tmp_path):
    from tests.doubles.harness import checked_harness

    latency = getattr(request.module, "BOOT_LATENCY", 0.2)
    yield from checked_harness(request.param, tmp_path, boot_latency=latency)


@pytest.fixture
def cluster():
    return f"t{uuid.uuid4().hex[:6]}"

"""The cluster-wide values as roles/vre_defaults defines them, for the tests that compare with them
(the galaxy UID a job runs as, say) instead of copying the numbers."""

from pathlib import Path

import yaml

CLUSTER_DEFAULTS = yaml.safe_load(
    (Path(__file__).resolve().parent.parent / "roles" / "vre_defaults" / "defaults" / "main.yml").read_text()
)

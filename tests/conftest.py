import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# tests/e2e brings up the whole VRE on the local provider (minutes, containers): collected only
# when VRE_E2E=1, which `./vre e2e` (and so `./vre test`) sets.
collect_ignore_glob = [] if os.environ.get("VRE_E2E") == "1" else ["e2e/*"]

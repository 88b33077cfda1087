"""Print a digest of pyproject.toml's dependency lists (used by scripts/lock.sh and setup.sh).

The lock files record it; setup.sh compares it to say when a lock is older than the
dependencies it should pin (someone added a package and did not run scripts/lock.sh).
Only the dependency lists count: editing the description or the pytest settings does not
make a lock stale.
"""

import hashlib
import json
import sys
import tomllib
from pathlib import Path

project = tomllib.loads(Path(sys.argv[1] if len(sys.argv) > 1 else "pyproject.toml").read_text(encoding="utf-8"))["project"]
wanted = {"dependencies": project.get("dependencies", []), "optional": project.get("optional-dependencies", {})}
print(hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()).hexdigest()[:16])

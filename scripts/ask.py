#!/usr/bin/env python3
"""Ask kb a question from the command line, as a plain script (same answer as `kb ask`).

    python scripts/ask.py "which approach for cart abandonment?" [--lang fr] [--json] [--url URL]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kb_service.cli import app  # noqa: E402

if __name__ == "__main__":
    app(["ask", *sys.argv[1:]], prog_name="ask.py")

"""Entry point of `python -m hrm_core.bench` (see hrm_core/bench/__init__.py)."""

import sys

from hrm_core.bench.cli import main

sys.exit(main())

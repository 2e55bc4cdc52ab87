"""`python -m hrm_tui` is `hrm-tui`."""

from hrm_tui.cli import main

raise SystemExit(main())

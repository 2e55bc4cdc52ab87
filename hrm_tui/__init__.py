"""hrm-tui: a terminal cockpit for HRM training.

The launcher (config form, launch options, runs list) and the live monitor are Textual screens; the entry
point is `hrm_tui.cli:main` (`hrm-tui`). See docs/tui.md.
"""

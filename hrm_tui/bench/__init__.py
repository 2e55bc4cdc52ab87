"""`python -m hrm_tui.bench`: the monitor's benchmark, and the synthetic run directories it (and the tests) use."""

"""The monitor's state and logic: reading a run's events into a bounded model, alert rules and plots.

Nothing here is a widget; the widgets under `hrm_tui.widgets.monitor` draw what these modules hold.
"""

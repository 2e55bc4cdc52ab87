"""Runs: finding run directories and their status, starting runs detached, and stopping them safely."""

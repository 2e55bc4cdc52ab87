"""The machine a run uses: NVML GPU scans and psutil host readings."""

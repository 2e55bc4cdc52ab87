"""The GPUs this machine has, with their free memory, from NVML (`nvidia-ml-py`), for choosing CUDA_VISIBLE_DEVICES.

Without an NVIDIA driver (a laptop, a CPU server, a container without the GPU runtime) the list is empty and
`GpuScan.message` says why in one line; nothing raises. A field that this driver does not support is left
as None rather than hiding the GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class GpuInfo:
    index: int  # NVML index, the number CUDA_VISIBLE_DEVICES uses (with the default PCI bus ordering)
    name: str
    memory_total_mib: int | None
    memory_free_mib: int | None
    utilization_pct: int | None

    def label(self) -> str:
        """One line for a selection list, e.g. `0  NVIDIA H100 80GB HBM3  79.1/79.6 GiB free  3%`."""
        free = (
            f"{self.memory_free_mib / 1024:.1f}/{self.memory_total_mib / 1024:.1f} GiB free"
            if self.memory_free_mib is not None and self.memory_total_mib is not None
            else "memory n/a"
        )
        util = f"{self.utilization_pct}% busy" if self.utilization_pct is not None else "busy n/a"
        return f"{self.index}  {self.name}  {free}  {util}"


@dataclass(frozen=True)
class GpuScan:
    gpus: list[GpuInfo] = field(default_factory=list)
    message: str = ""  # why the list is empty, when it is


def list_gpus() -> GpuScan:
    """Every GPU NVML reports. Never raises: no driver or no library gives an empty list and a message."""
    try:
        import pynvml
    except ImportError:
        return GpuScan(message="nvidia-ml-py is not installed: no GPU list (training still runs on CPU)")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        return GpuScan(message=f"no NVIDIA driver ({_nvml_text(error)}): runs will use the CPU")
    try:
        count = pynvml.nvmlDeviceGetCount()
        gpus = [_describe(pynvml, i) for i in range(count)]
    except pynvml.NVMLError as error:
        return GpuScan(message=f"NVML failed to list GPUs ({_nvml_text(error)})")
    finally:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass
    return GpuScan(gpus, "" if gpus else "the NVIDIA driver reports no GPU: runs will use the CPU")


def _describe(pynvml: object, index: int) -> GpuInfo:
    nv = pynvml  # the module; typed loosely because nvidia-ml-py ships no type hints
    handle = nv.nvmlDeviceGetHandleByIndex(index)  # type: ignore[attr-defined]

    def field_or_none(read):  # a field this driver or GPU does not support is shown as n/a
        try:
            return read()
        except nv.NVMLError:  # type: ignore[attr-defined]
            return None

    name = field_or_none(lambda: nv.nvmlDeviceGetName(handle))  # type: ignore[attr-defined]
    if isinstance(name, bytes):
        name = name.decode(errors="replace")
    memory = field_or_none(lambda: nv.nvmlDeviceGetMemoryInfo(handle))  # type: ignore[attr-defined]
    util = field_or_none(lambda: nv.nvmlDeviceGetUtilizationRates(handle))  # type: ignore[attr-defined]
    return GpuInfo(
        index=index,
        name=str(name or f"GPU {index}"),
        memory_total_mib=int(memory.total // 2**20) if memory is not None else None,
        memory_free_mib=int(memory.free // 2**20) if memory is not None else None,
        utilization_pct=int(util.gpu) if util is not None else None,
    )


def _nvml_text(error: Exception) -> str:
    return str(error) or type(error).__name__

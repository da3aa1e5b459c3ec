"""The DPU engine (AMD DPUCZDX8G-like): parameters, tiling, cycle kernel, reference and closed form."""

from hwmodel.dpu.params import DPU_NAMES, DpuParams, dpu_params

__all__ = ["DPU_NAMES", "DpuParams", "dpu_params"]

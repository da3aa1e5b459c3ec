"""Accelerator configurations: the ``AcceleratorConfig`` dataclass, built-in presets and file loaders."""

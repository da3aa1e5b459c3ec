"""Emit: a pruned IR graph + the original weights -> a real slim torch.fx.GraphModule; spec files; ONNX."""

from hwprune.emit.module import emit

__all__ = ["emit"]

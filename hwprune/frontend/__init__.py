"""Frontend: torch.fx symbolic tracing and shape propagation into the IR."""

from hwprune.frontend.trace import trace

__all__ = ["trace"]

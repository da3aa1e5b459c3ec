"""Transforms: pure functions Graph -> Graph."""

from hwprune.transform.channels import prune_channels

__all__ = ["prune_channels"]

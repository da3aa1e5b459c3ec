"""Transforms: pure functions Graph -> Graph."""

from hwprune.transforms.channels import prune_channels

__all__ = ["prune_channels"]

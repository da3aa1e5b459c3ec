"""Once-for-all (Vitis AI's OFA workflow) on modelled hardware: a supernet with elastic width per channel
group (choices on the hardware's channel steps), sandwich-rule training with distillation, evolutionary
search under a simulated-latency range, static slim subnets.

Example:
    >>> ofa = hwprune.OFAPruner(model, x, hw="dpu-b4096")
    >>> sup = ofa.ofa_model([0.5, 0.75, 1], channel_divisible=8)
    >>> sub, setting = ofa.sample_subnet(sup, "random")
    >>> static, config, macs, params = ofa.get_static_subnet(sup, setting)
"""

from hwprune.ofa.pruner import SAMPLE_MODES, OFAPruner, load_subnet_config, save_subnet_config
from hwprune.ofa.space import SearchSpace
from hwprune.ofa.static import rebuild_static_subnet
from hwprune.ofa.supernet import OFASupernet

__all__ = [
    "OFAPruner",
    "OFASupernet",
    "SearchSpace",
    "save_subnet_config",
    "load_subnet_config",
    "rebuild_static_subnet",
    "SAMPLE_MODES",
]

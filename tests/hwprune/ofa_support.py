"""Shared check of the OFA tests: a subnet's static model computes what the dynamic subnet computes."""

from __future__ import annotations

from typing import Any

import torch


def static_matches_dynamic(ofa: Any, sup: Any, x: torch.Tensor, code: Any) -> tuple[Any, ...]:
    """Activate ``code`` on ``sup`` (in eval mode) and check that ``ofa.get_static_subnet`` returns the
    subnet's setting and a model with the dynamic subnet's outputs (rtol 1e-5).

    Returns:
        ``(setting, static, macs, params, outputs)`` for the caller's further checks.
    """
    sup.set_code(code)
    setting = sup.setting()
    with torch.no_grad():
        y = sup(x)
        static, config, macs, params = ofa.get_static_subnet(sup, setting)
        static.eval()
        ys = static(x)
    assert config == setting
    torch.testing.assert_close(ys, y, rtol=1e-5, atol=1e-5 * float(y.abs().max()))
    return setting, static, macs, params, ys

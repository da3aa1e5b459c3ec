"""Small models written the way timm, torchvision and Torch-Pruning's test zoo write theirs.

Each reproduces one pattern that real model code uses and plain module-level tracing does not see:
``F.batch_norm`` on a module's own parameters (timm's ``BatchNormAct2d``), weight-standardised convs
(timm's ``StdConv2d`` / ``ScaledStdConv2d``), ConvNeXt-V2's GRN (norm over space, mean over channels),
squeeze-excite with ``expand_as``, stochastic depth (timm's ``DropPath``, torchvision's wrapped
``stochastic_depth``), ``F.linear``/``F.group_norm``/``F.instance_norm``/``addcmul`` on parameters,
"same" padding computed with ``math.ceil`` on ``x.shape``, ``forward(x, flag=False)``, and ConvTranspose.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn

__all__ = ["FUNCTIONAL_ZOO", "INPUT_SHAPES", "same_pad"]


class BatchNormAct2d(nn.BatchNorm2d):
    """timm's pattern: a BatchNorm2d subclass that calls F.batch_norm on its own tensors, then an act."""

    def __init__(self, c: int) -> None:
        super().__init__(c)
        self.act = nn.SiLU()

    def forward(self, x: Tensor) -> Tensor:
        x = F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.eps,
        )
        return self.act(x)


class StdConv2d(nn.Conv2d):
    """Weight standardisation as timm writes it: batch_norm over the reshaped weight."""

    def forward(self, x: Tensor) -> Tensor:
        w = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1), None, None, training=True, momentum=0.0, eps=1e-6
        ).reshape_as(self.weight)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ScaledStdConv2d(nn.Conv2d):
    """NFNet's conv: standardised weight times a per-output-channel gain."""

    def __init__(self, cin: int, cout: int, k: int, groups: int = 1) -> None:
        super().__init__(cin, cout, k, padding=k // 2, groups=groups, bias=True)
        self.gain = nn.Parameter(torch.rand(cout, 1, 1, 1) + 0.5)
        self.scale = (cin // groups * k * k) ** -0.5

    def forward(self, x: Tensor) -> Tensor:
        w = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1),
            None,
            None,
            weight=(self.gain * self.scale).view(-1),
            training=True,
            momentum=0.0,
            eps=1e-5,
        ).reshape_as(self.weight)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class BNActNet(nn.Module):
    """Conv -> BatchNormAct2d blocks with a depthwise stage and an F.linear head on module parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = BatchNormAct2d(8)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.bn2 = BatchNormAct2d(8)
        self.pw = nn.Conv2d(8, 16, 1, bias=False)
        self.bn3 = BatchNormAct2d(16)
        self.w = nn.Parameter(torch.randn(12, 16) * 0.2)
        self.b = nn.Parameter(torch.randn(12) * 0.1)
        self.fc = nn.Linear(12, 5)

    def forward(self, x: Tensor) -> Tensor:
        x = self.bn1(self.stem(x))
        x = x + self.bn2(self.dw(x))
        x = self.bn3(self.pw(x)).mean((2, 3))
        return self.fc(F.relu(torch._C._nn.linear(x, self.w, self.b)))


class WSNet(nn.Module):
    """Weight-standardised convs (plain and scaled with a gain), a functional conv on a plain parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.ws1 = StdConv2d(8, 12, 3, padding=1)
        self.ws2 = ScaledStdConv2d(12, 12, 3, groups=3)
        self.mid = nn.Conv2d(12, 16, 1)
        self.kernel = nn.Parameter(torch.randn(10, 16, 3, 3) * 0.1)
        self.head = nn.Conv2d(10, 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.ws1(F.relu(self.stem(x))))
        x = F.relu(self.ws2(x))
        x = F.relu(self.mid(x))
        x = F.relu(F.conv2d(x, self.kernel, None, 1, 1))
        return self.head(x).mean((2, 3))


class GRN(nn.Module):
    """ConvNeXt-V2's global response normalisation (NHWC)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.rand(1, 1, 1, c) + 0.5)
        self.beta = nn.Parameter(torch.randn(1, 1, 1, c) * 0.1)

    def forward(self, x: Tensor) -> Tensor:
        gx = torch.norm(x, p=2, dim=(1, 2), keepdim=True)
        nx = gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)
        return self.gamma * (x * nx) + self.beta + x


class GRNNet(nn.Module):
    """A ConvNeXt-V2 block: depthwise conv, LayerNorm (channels last), pwconv, GELU, GRN, pwconv."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 2, stride=2)
        self.dw = nn.Conv2d(8, 8, 7, padding=3, groups=8)
        self.norm = nn.LayerNorm(8)
        self.pw1 = nn.Linear(8, 32)
        self.grn = GRN(32)
        self.pw2 = nn.Linear(32, 8)
        self.fc = nn.Linear(8, 16)
        self.head = nn.Linear(16, 5)

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)
        y = self.norm(self.dw(x).permute(0, 2, 3, 1))
        y = self.pw2(self.grn(F.gelu(self.pw1(y))))
        x = x + y.permute(0, 3, 1, 2)
        return self.head(F.relu(self.fc(x.mean((2, 3)))))


class SEExpand(nn.Module):
    """Squeeze-excite as the CIFAR zoos write it: view, Linear, then expand_as before the product."""

    def __init__(self, c: int, r: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Linear(c, c // r)
        self.fc2 = nn.Linear(c // r, c)

    def forward(self, x: Tensor) -> Tensor:
        b, c, _, _ = x.size()
        y = F.adaptive_avg_pool2d(x, 1).view(b, c)
        y = torch.sigmoid(self.fc2(F.relu(self.fc1(y)))).view(b, c, 1, 1)
        return x * y.expand_as(x)


class DropPath(nn.Module):
    """timm's stochastic depth: identity in eval, a per-sample mask in training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


@fx.wrap
def stochastic_depth(x: Tensor, p: float, mode: str, training: bool = True) -> Tensor:
    """torchvision's wrapped function (matched by its qualified name, as hwprune never imports torchvision)."""
    if not training or p == 0.0:
        return x
    shape = [x.shape[0]] + [1] * (x.ndim - 1) if mode == "row" else [1] * x.ndim
    return x * torch.empty(shape, dtype=x.dtype).bernoulli_(1 - p) / (1 - p)


stochastic_depth.__module__ = "torchvision.ops.stochastic_depth"


class SEDepthNet(nn.Module):
    """Residual blocks with SE (expand_as), DropPath and torchvision-style stochastic depth, repeat/expand."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.c1 = nn.Conv2d(16, 16, 3, padding=1)
        self.se = SEExpand(16)
        self.drop = DropPath(0.1)
        self.c2 = nn.Conv2d(16, 16, 3, padding=1)
        self.scale = nn.Parameter(torch.rand(16) + 0.5)
        self.c3 = nn.Conv2d(32, 8, 1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.stem(x))
        x = x + self.drop(self.se(F.relu(self.c1(x))))
        y = F.relu(self.c2(x)) * self.scale.view(1, -1, 1, 1).expand(x.shape[0], 16, x.shape[2], x.shape[3])
        x = x + stochastic_depth(y, 0.2, "row", self.training)
        z = torch.addcmul(x, x.mean((2, 3), keepdim=True).repeat(1, 1, 2, 2)[:, :, :1, :1], x, value=0.5)
        x = torch.cat([x, F.dropout2d(z, 0.1, self.training)], 1)
        return self.fc(F.relu(self.c3(x)).mean((2, 3)))


class NormsNet(nn.Module):
    """F.group_norm / F.instance_norm on parameters, nn.GroupNorm, pow/rsqrt/norm over spatial dims."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 12, 3, padding=1)
        self.gn_w = nn.Parameter(torch.rand(12) + 0.5)
        self.gn_b = nn.Parameter(torch.randn(12) * 0.1)
        self.b = nn.Conv2d(12, 8, 3, padding=1)
        self.in_w = nn.Parameter(torch.rand(8) + 0.5)
        self.c = nn.Conv2d(8, 8, 1)
        self.gn = nn.GroupNorm(4, 8)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(F.group_norm(self.a(x), 3, self.gn_w, self.gn_b))
        x = F.instance_norm(self.b(x), weight=self.in_w, bias=None)
        x = x * torch.rsqrt(x.pow(2).mean((2, 3), keepdim=True) + 1e-3)  # RMS over space, per channel
        x = F.relu(self.gn(self.c(x)))
        x = x / (torch.norm(x, p=2, dim=(2, 3), keepdim=True) + 1.0)
        return self.head(x).mean((2, 3))


def same_pad(x: Tensor, k: int, s: int) -> Tensor:
    """TF "same" padding, computed from the input size as timm's pad_same does (Python math on shapes)."""
    ih, iw = x.shape[-2:]
    ph = max((math.ceil(ih / s) - 1) * s + k - ih, 0)
    pw = max((math.ceil(iw / s) - 1) * s + k - iw, 0)
    return F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])


class Conv2dSame(nn.Conv2d):
    """timm's Conv2dSame: "same" padding from the input size, then F.conv2d on its own weight."""

    def forward(self, x: Tensor) -> Tensor:
        x = same_pad(x, self.kernel_size[0], self.stride[0])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


class ShapeFlowNet(nn.Module):
    """Python control flow on sizes and on a non-tensor argument: ``forward(x, return_features=False)``,
    ``if h == 8:``, timm-VGG-style size checks, and ``view(x.size(0), -1)`` that must keep any batch."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = Conv2dSame(3, 8, 3, stride=2)
        self.bn = BatchNormAct2d(8)
        self.dw = Conv2dSame(8, 8, 5, stride=2, groups=8)
        self.extra = nn.Conv2d(8, 8, 3, padding=1)
        self.pre_logits = nn.Conv2d(8, 16, 4)
        self.fc = nn.Linear(16, 5)

    def forward(self, x: Tensor, return_features: bool = False) -> Tensor:
        x = self.bn(self.stem(x))
        x = F.relu(self.dw(x))
        if x.shape[-1] == 4:  # specialised to the example input
            x = x + F.relu(self.extra(x))
        if return_features:
            return x
        if x.shape[-2] < self.pre_logits.kernel_size[0]:
            x = F.adaptive_avg_pool2d(x, self.pre_logits.kernel_size[0])
        x = F.relu(self.pre_logits(x)).amax((2, 3), keepdim=True)
        return self.fc(x.view(x.size(0), -1))


class DecoderNet(nn.Module):
    """An encoder-decoder: ConvTranspose2d dense, grouped and depthwise, both sides pruned."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.up = nn.ConvTranspose2d(8, 12, 4, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(12)
        self.grouped = nn.ConvTranspose2d(12, 12, 3, padding=1, groups=3)
        self.dw = nn.ConvTranspose2d(12, 12, 3, stride=2, padding=1, output_padding=1, groups=12, bias=False)
        self.head = nn.Conv2d(12, 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.enc(x)))
        x = F.relu(self.bn2(self.up(x)))
        x = F.relu(self.dw(F.relu(self.grouped(x))))
        return self.head(x).mean((2, 3))


class Seq1dNet(nn.Module):
    """Conv1d / BatchNorm1d / ConvTranspose1d on sequences, a Linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv1d(3, 8, 5, padding=2)
        self.bn = nn.BatchNorm1d(8)
        self.b = nn.Conv1d(8, 12, 3, stride=2, padding=1, groups=4)
        self.up = nn.ConvTranspose1d(12, 6, 2, stride=2)
        self.fc = nn.Linear(6, 5)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.b(F.relu(self.bn(self.a(x)))))
        return self.fc(F.relu(self.up(x)).mean(-1))


class Vol3dNet(nn.Module):
    """Conv3d / BatchNorm3d / ConvTranspose3d on volumes."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv3d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm3d(6)
        self.b = nn.Conv3d(6, 8, 3, stride=2, padding=1)
        self.up = nn.ConvTranspose3d(8, 6, 2, stride=2)
        self.head = nn.Conv3d(6, 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.b(F.relu(self.bn(self.a(x)))))
        return self.head(F.relu(self.up(x))).mean((2, 3, 4))


class ECA(nn.Module):
    """timm's efficient channel attention: a 1-channel Conv1d sliding along the channels."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 3, padding=1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv(x.mean((2, 3)).view(x.shape[0], 1, -1))
        return x * torch.sigmoid(y).view(x.shape[0], -1, 1, 1).expand_as(x)


class GlobalContext(nn.Module):
    """timm's global context block: softmax attention over pixels (matmul), unsqueeze, an MLP on channels."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv_attn = nn.Conv2d(c, 1, 1)
        self.fc1 = nn.Conv2d(c, c // 2, 1)
        self.fc2 = nn.Conv2d(c // 2, c, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        attn = torch.softmax(self.conv_attn(x).reshape(b, 1, h * w).unsqueeze(-1), dim=2)
        context = (x.reshape(b, c, h * w).unsqueeze(1) @ attn).view(b, c, 1, 1)
        return x + self.fc2(F.relu(self.fc1(context)))


class AttentionNet(nn.Module):
    """ECA (inexact: its window runs over the channels) and a global-context block (exact)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 12, 3, padding=1)
        self.eca = ECA()
        self.mid = nn.Conv2d(12, 16, 3, padding=1)
        self.gc = GlobalContext(16)
        self.head = nn.Conv2d(16, 4, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.mid(self.eca(F.relu(self.stem(x)))))
        return self.head(self.gc(x)).mean((2, 3))


FUNCTIONAL_ZOO = {
    "bnact": BNActNet,
    "weight_std": WSNet,
    "grn": GRNNet,
    "se_depth": SEDepthNet,
    "norms": NormsNet,
    "shape_flow": ShapeFlowNet,
    "decoder": DecoderNet,
    "seq1d": Seq1dNet,
    "vol3d": Vol3dNet,
    "attention": AttentionNet,
}
# input shapes other than (2, 3, 16, 16)
INPUT_SHAPES = {"seq1d": (2, 3, 32), "vol3d": (2, 3, 6, 8, 8)}

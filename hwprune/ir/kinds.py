"""The closed set of op kinds. Anything the frontend does not recognise becomes ``OPAQUE``."""

from __future__ import annotations

import enum

__all__ = ["OpKind"]


class OpKind(str, enum.Enum):
    """What an op computes, as far as channel bookkeeping and lowering care."""

    INPUT = "input"  # a model input (fx placeholder)
    OUTPUT = "output"  # the model output
    PARAM = "param"  # a parameter or buffer read directly (fx get_attr), e.g. a layer-scale vector
    CONV = "conv"  # nn.Conv1d/2d/3d / F.conv* on a parameter (dense, grouped or depthwise)
    CONV_TRANSPOSE = "conv_transpose"  # nn.ConvTranspose1d/2d/3d (weight: in x out/groups x kernel)
    LINEAR = "linear"  # nn.Linear / F.linear on a parameter
    BATCHNORM = "batchnorm"  # per-channel normalisation (BatchNorm1d/2d/3d, InstanceNorm1d/2d/3d)
    LAYERNORM = "layernorm"  # normalisation over trailing dims (nn.LayerNorm / F.layer_norm)
    GROUPNORM = "groupnorm"  # normalisation over groups of channels (nn.GroupNorm / F.group_norm)
    ACT = "act"  # unary elementwise: activations, dropout, identity, casts, clone
    POOL = "pool"  # spatial max/avg pooling with a window
    ADAPTIVE_POOL = "adaptive_pool"  # adaptive (e.g. global) average/max pooling
    RESAMPLE = "resample"  # spatial up/down sampling, padding of spatial dims
    ADD = "add"  # elementwise sum or difference of tensors (broadcasting)
    MUL = "mul"  # elementwise product or quotient (squeeze-excitation, layer scale)
    MATMUL = "matmul"  # product of two activations (matmul/bmm/@): attention, global context pooling
    CAT = "cat"  # concatenation along a dim
    SPLIT = "split"  # split/chunk into a tuple of tensors along a dim
    GETITEM = "getitem"  # item of a tuple, or basic slicing of a tensor
    FLATTEN = "flatten"  # torch.flatten / nn.Flatten
    RESHAPE = "reshape"  # view / reshape / unflatten
    EXPAND = "expand"  # expand / expand_as / broadcast_to / repeat: larger along non-channel dims
    PERMUTE = "permute"  # permute / transpose
    REDUCE = "reduce"  # mean / sum / amax ... over dims
    SOFTMAX = "softmax"  # softmax / log_softmax over a dim
    SIZE = "size"  # shape queries (x.size(), x.shape, x.dim()) and python arithmetic on them
    OPAQUE = "opaque"  # anything else: channels never flow through it

    def __str__(self) -> str:
        return self.value

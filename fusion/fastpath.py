"""Fast paths: the switch back to the reference implementation, grouped BatchNorm and merged 1×1 convs.

Every module with a fast path keeps its original forward as ``forward_reference`` and a class attribute
``reference = False``; :func:`use_reference` flips it on a whole model so tests and
``benchmarks/train_speed.py`` can compare both paths on the same parameters. Fast paths only reorder
exact algebra (merged convolutions, means taken before linear maps, one contraction instead of a loop), so
parameter names, ``state_dict`` keys and checkpoints are the reference's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def use_reference(model: nn.Module, reference: bool = True) -> nn.Module:
    """Run every fast-path module of ``model`` through its reference forward (or back); returns ``model``."""
    for module in model.modules():
        if hasattr(type(module), "reference"):
            module.reference = reference
    return model


def is_norm(module: nn.Module) -> bool:
    """True for a BatchNorm that still computes (an ``Identity`` left by folding is not)."""
    return isinstance(module, nn.modules.batchnorm._BatchNorm)


def batch_norm_group(x: torch.Tensor, norms: Sequence[nn.Module]) -> torch.Tensor:
    """Apply the BatchNorms ``norms`` to consecutive channel chunks of ``x`` in one call.

    Same result and running-statistics update as calling each BN on its chunk (per-channel statistics do
    not mix); all BNs must share mode, ``eps``, momentum and ``track_running_stats``.
    """
    if len(norms) == 1:
        return norms[0](x)
    first = norms[0]
    training = first.training or not first.track_running_stats
    momentum = 0.0 if first.momentum is None else first.momentum
    if first.training and first.track_running_stats:
        for bn in norms:
            bn.num_batches_tracked.add_(1)
        if first.momentum is None:
            momentum = 1.0 / float(first.num_batches_tracked)
    track = first.track_running_stats
    mean = torch.cat([bn.running_mean for bn in norms]) if track else None
    var = torch.cat([bn.running_var for bn in norms]) if track else None
    weight = torch.cat([bn.weight for bn in norms]) if first.affine else None
    bias = torch.cat([bn.bias for bn in norms]) if first.affine else None
    y = F.batch_norm(x, mean, var, weight, bias, training, momentum, first.eps)
    if track and first.training:
        with torch.no_grad():
            start = 0
            for bn in norms:
                width = bn.num_features
                bn.running_mean.copy_(mean[start:start + width])
                bn.running_var.copy_(var[start:start + width])
                start += width
    return y


def merged_conv(x: torch.Tensor, convs: Sequence[nn.Conv2d]) -> torch.Tensor:
    """The outputs of several convolutions with the same geometry on ``x``, concatenated over channels, in one call."""
    if len(convs) == 1:
        return convs[0](x)
    first = convs[0]
    weight = torch.cat([c.weight for c in convs])
    bias = torch.cat([c.bias for c in convs]) if first.bias is not None else None
    return F.conv2d(x, weight, bias, first.stride, first.padding, first.dilation, first.groups)


def eager_cpu(x: torch.Tensor) -> bool:
    """True for a plain CPU tensor in eager mode: layout fast paths (channels-last) are measured there;
    export, ``torch.compile``, TorchScript and ONNX tracing keep the reference layout (symbolic frame counts
    would guard on the channels-last strides)."""
    if type(x) is not torch.Tensor or x.device.type != "cpu":
        return False  # FakeTensor / FunctionalTensor subclasses mean export or compile is tracing
    if torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling():
        return False
    return not torch.onnx.is_in_onnx_export()


def channels_last_only(x: torch.Tensor) -> bool:
    """True when ``x`` is stored channels-last and not also in the standard layout (a 1-channel or 1×1 map
    is both): the fast paths that read the (N, T, V, C) memory directly take this branch."""
    return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def add_relu_(y: torch.Tensor, residual: torch.Tensor | int) -> torch.Tensor:
    """``relu(y + residual)`` in ``y``'s memory (fast paths): on CPU every fresh large tensor costs page
    faults, so a block's last two ops reuse its output. ``y`` must be a fresh result whose producer's
    backward does not read it (a conv, BatchNorm, cat or graph-contraction output); ``residual`` may be
    the ``0`` of a switched-off residual."""
    if not isinstance(residual, int) or residual:
        y = y.add_(residual)
    return y.relu_()


def dropout_mask(shape: torch.Size, p: float, dtype: torch.dtype) -> torch.Tensor:
    """A dropout mask (0 or ``1 / (1 - p)``) drawn from 16 random bits per element of 64-bit words.

    On CPU ``bernoulli_`` draws one random number per element and took 13 % of an ST-GCN training step;
    64-bit words carry four 16-bit lanes each, about 12× faster. ``p`` is rounded to a multiple of
    1/65536 (exact for 0.5, 0.25, …). Draws from torch's default generator, so ``torch.manual_seed`` still
    makes runs repeat.
    """
    count = math.prod(shape)
    words = torch.empty((count + 3) // 4, dtype=torch.int64).random_(-2 ** 63, None)
    lanes = words.view(torch.int16)[:count].view(shape)
    keep = lanes >= round(p * 65536) - 32768  # P(lane < threshold) = round(p·65536) / 65536
    return keep.to(dtype).mul_(1.0 / (1.0 - p))


class Dropout(nn.Dropout):
    """``nn.Dropout`` whose CPU training mask comes from :func:`dropout_mask` (same distribution, its own
    random stream); GPU, compile, export, ``p = 0``, ``p = 1`` and eval run ``nn.Dropout`` itself."""

    #: True: always run ``nn.Dropout`` (see :func:`use_reference`).
    reference = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.reference or not self.training or not 0.0 < self.p < 1.0 or not eager_cpu(x):
            return super().forward(x)
        mask = dropout_mask(x.shape, self.p, x.dtype)
        return x.mul_(mask) if self.inplace else x * mask


class ChannelShift(nn.Module):
    """``x + shift[c]``: what remains of a BatchNorm whose scale was folded into a preceding linear map.

    ``inplace``: add into ``x`` when no gradient is being recorded (the folding sites follow a linear map,
    whose output is a fresh tensor nothing else reads).
    """

    def __init__(self, shift: torch.Tensor, inplace: bool = False):
        super().__init__()
        self.inplace = inplace
        self.register_buffer("shift", shift.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shift = self.shift.view(1, -1, *([1] * (x.dim() - 2)))
        if self.inplace and not (torch.is_grad_enabled() and x.requires_grad):
            return x.add_(shift)
        return x + shift


def bn_scale_shift(bn: nn.modules.batchnorm._BatchNorm) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BN as ``y = scale · x + shift`` per channel."""
    scale = torch.rsqrt(bn.running_var + bn.eps)
    if bn.affine:
        scale = scale * bn.weight
    shift = -bn.running_mean * scale
    if bn.affine:
        shift = shift + bn.bias
    return scale.detach(), shift.detach()


@torch.no_grad()
def fold_into_conv(conv: nn.Conv2d | nn.Conv3d | nn.Conv1d, bn: nn.modules.batchnorm._BatchNorm) -> None:
    """Fold eval-mode ``bn`` into the convolution right before it (weights and bias, in place)."""
    scale, shift = bn_scale_shift(bn)
    conv.weight.mul_(scale.view(-1, *([1] * (conv.weight.dim() - 1))))
    if conv.bias is None:
        conv.bias = nn.Parameter(shift.clone())
    else:
        conv.bias.mul_(scale).add_(shift)


def fold_scale_into_rows(conv: nn.Conv2d | nn.Conv1d, bn: nn.modules.batchnorm._BatchNorm, groups: int = 1) -> nn.Module:
    """Fold eval-mode ``bn`` through a map that is linear per output channel (a graph contraction after ``conv``):
    the BN scale multiplies ``conv``'s output rows (``groups`` copies of the channels, e.g. one per subset),
    and the shift, which does not commute with the contraction, comes back as a :class:`ChannelShift`."""
    scale, shift = bn_scale_shift(bn)
    rows = scale.repeat(groups)
    with torch.no_grad():
        conv.weight.mul_(rows.view(-1, *([1] * (conv.weight.dim() - 1))))
        if conv.bias is not None:
            conv.bias.mul_(rows)
    return ChannelShift(shift, inplace=True)


@torch.no_grad()
def fuse_for_inference(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with every BatchNorm that follows a linear map folded into it.

    Each module that can fold defines ``fold_batchnorm()``; the copy gives the same outputs as
    ``model.eval()`` (to float rounding) with fewer passes over memory, and has no gradients. Its
    ``state_dict`` differs (folded BNs are gone): keep the original for checkpoints.
    """
    import copy

    fused = copy.deepcopy(model).eval()
    for module in list(fused.modules()):
        fold = getattr(module, "fold_batchnorm", None)
        if callable(fold):
            fold()
    for parameter in fused.parameters():
        parameter.requires_grad_(False)
    return fused


def compile_encoders(model: nn.Module, report=print) -> list[str]:
    """``train.compile: true``: compile each encoder of a :class:`fusion.model.FusionModel` in place
    (``nn.Module.compile``, so ``state_dict`` keys and checkpoints do not change); the first forward of each
    compiles it, and ``report`` gets one line with the seconds that took. Returns the compiled names."""
    encoders = getattr(model, "encoders", None)
    targets = dict(encoders.items()) if encoders is not None else {type(model).__name__: model}
    for name, encoder in targets.items():
        encoder.compile()
        _report_first_call(encoder, f"train.compile: {name} compiled (first forward) in {{:.1f}} s", report)
    return list(targets)


def _report_first_call(module: nn.Module, message: str, report) -> None:
    import time

    state: dict = {}

    def before(mod, args):
        state["start"] = time.perf_counter()

    def after(mod, args, output):
        report(message.format(time.perf_counter() - state["start"]))
        pre.remove()
        post.remove()

    pre = module.register_forward_pre_hook(before)
    post = module.register_forward_hook(after)


__all__ = ["add_relu_", "channels_last_only", "Dropout", "dropout_mask", "eager_cpu", "compile_encoders", "fuse_for_inference", "fold_scale_into_rows", "use_reference", "batch_norm_group", "merged_conv", "ChannelShift", "bn_scale_shift", "fold_into_conv",
           "is_norm"]

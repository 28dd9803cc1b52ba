"""What every video encoder shares: turning a feature volume into Features, and local-only checkpoints.

Fusion never downloads weights: ``pretrained`` is a path to a checkpoint file on disk, so runs work
offline and a recipe names exactly the weights it used.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Mapping

import torch
from torch import nn

from fusion.errors import DataError, RecipeError
from fusion.types import Features

log = logging.getLogger(__name__)


class PretrainedNotFound(RecipeError, FileNotFoundError):
    """``pretrained`` is not a checkpoint file on disk (a URL, a hub name, a missing path)."""

#: Features every video encoder in this package provides.
VIDEO_PROVIDES = frozenset({"pooled", "frames", "volume"})


def video_features(volume: torch.Tensor) -> Features:
    """``volume (B, D, T', H', W')`` → Features with ``frames (B, T', D)`` (spatial mean) and ``pooled (B, D)``."""
    frames = volume.mean(dim=(3, 4)).transpose(1, 2)
    return Features(pooled=frames.mean(dim=1), frames=frames, volume=volume)


def _state_dict_of(checkpoint: object, path: str) -> Mapping[str, torch.Tensor]:
    """The tensors of a checkpoint saved by PyTorchVideo (``model_state``), timm/mmcv (``state_dict``) or as is."""
    if isinstance(checkpoint, Mapping):
        for key in ("model_state", "state_dict", "model"):
            if isinstance(checkpoint.get(key), Mapping):
                return checkpoint[key]
        return checkpoint
    raise DataError(f"{path}: the checkpoint holds a {type(checkpoint).__name__}; expected a dict of tensors "
                    "(or one under model_state, state_dict or model)")


def adapt_input_filters(weight: torch.Tensor, in_channels: int) -> torch.Tensor:
    """RGB-trained first-conv filters ``(O, 3, ...)`` for ``in_channels`` inputs, as timm's ``adapt_input_conv``.

    One channel (depth) gets the sum of the colour filters, so a grey image gives the same response;
    more channels get the filters repeated and rescaled by ``3 / in_channels``. Works for 2D and 3D convs.
    """
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True)
    repeat = -(-in_channels // weight.shape[1])
    return weight.repeat(1, repeat, *[1] * (weight.dim() - 2))[:, :in_channels] * (weight.shape[1] / in_channels)


def load_local_checkpoint(model: nn.Module, path: str | os.PathLike) -> None:
    """Load weights from a local file into ``model`` (non-strict: the classifier head is usually absent).

    ``module.`` prefixes (DDP) are stripped. A conv weight that differs from the model's only in its
    input channels (RGB weights for a depth encoder) is adapted by :func:`adapt_input_filters`; other
    tensors whose shapes differ are skipped and reported.

    Raises:
        PretrainedNotFound: ``path`` is not a local file; weights are never downloaded. It is a
            :class:`RecipeError` (the CLI prints it as one sentence) and a ``FileNotFoundError``.
    """
    path = os.fspath(path)
    if "://" in path or not os.path.isfile(path):
        raise PretrainedNotFound(
            f"pretrained={path!r} is not a local checkpoint file; Fusion never downloads weights. "
            "Download the checkpoint yourself and give its path (or pretrained: null to train from scratch)."
        )
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
        raise DataError(f"{path}: not a readable PyTorch checkpoint ({(str(exc).strip().splitlines() or [type(exc).__name__])[0]})") from None
    state = {k.removeprefix("module."): v for k, v in _state_dict_of(checkpoint, path).items()}
    own = model.state_dict()
    skipped = []
    for key, value in list(state.items()):
        if key not in own or own[key].shape == value.shape:
            continue
        target = own[key].shape
        if value.dim() >= 4 and value.shape[:1] + value.shape[2:] == target[:1] + target[2:]:
            state[key] = adapt_input_filters(value, target[1])
        else:
            skipped.append(key)
            del state[key]
    result = model.load_state_dict(state, strict=False)
    log.info(
        "loaded %s: %d missing, %d unexpected, %d skipped (shape) keys: %s",
        path, len(result.missing_keys), len(result.unexpected_keys), len(skipped), skipped[:5],
    )


class VolumeEncoder(nn.Module):
    """Base of the video encoders: subclasses set ``out_dim`` and implement :meth:`forward_volume`.

    ``forward(x (B, C, T, H, W)) -> Features(volume, frames, pooled)``; mixers that only need a vector
    read ``pooled``, attention mixers read ``volume``.
    """

    out_dim: int

    def forward_volume(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> Features:
        return video_features(self.forward_volume(x))


def last_norm_width(module: nn.Module) -> int:
    """Channels of the last BatchNorm in ``module``: the output width of a conv trunk, without a dummy forward."""
    widths = [m.num_features for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not widths:
        raise ValueError(f"{type(module).__name__} has no BatchNorm to read its output width from")
    return widths[-1]

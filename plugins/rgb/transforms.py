"""Video transforms on raw samples (``video.*``), with torchvision.transforms.v2 kernels.

Each factory returns ``callable(sample, rng) -> sample`` acting on ``sample["rgb"]``, a ``(T, H, W, 3)``
uint8 array; the same clip-level parameters (crop box, flip) apply to every frame, and randomness comes
only from ``rng`` so runs are reproducible. Outputs keep the raw layout and dtype, except
``video.normalize``, which returns ``(T, H, W, 3)`` float32 (mean/std normalised) that the rgb modality
converter takes as is. The frame machinery (:class:`FrameTransform` and subclasses) is shared with the
depth plugin's ``depth.*`` transforms, which use nearest interpolation so zero holes stay holes.
PyTorchVideo's transforms are not used: ``pytorchvideo.transforms`` fails to import with torchvision >= 0.17.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from fusion.errors import DataError, RecipeError
from fusion.types import TransformSpec

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Size = int | Sequence[int]
INTERPOLATIONS = ("bilinear", "nearest", "bicubic")


def vision_functional():
    """``torchvision.transforms.v2.functional``, imported on first use.

    Importing torchvision takes about 2 s; every ``fusion`` command loads the plugins (``fusion list``
    included), so the video kernels are imported only when a transform runs.
    """
    from torchvision.transforms.v2 import functional

    return functional


def interpolation_mode(name: str):
    """torchvision's ``InterpolationMode`` for ``name`` (one of :data:`INTERPOLATIONS`)."""
    from torchvision.transforms import InterpolationMode

    return InterpolationMode(name)


def _pair(size: Size) -> list[int]:
    return [int(size), int(size)] if isinstance(size, int) else [int(s) for s in size]


def to_frames(array: np.ndarray) -> torch.Tensor:
    """Raw ``(T, H, W, 3)`` or ``(T, H, W)`` -> ``(T, C, H, W)`` tensor (uint16 goes to float32, exact)."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    tensor = tensor.permute(0, 3, 1, 2) if tensor.dim() == 4 else tensor.unsqueeze(1)
    return tensor.float() if tensor.dtype == torch.uint16 else tensor


def from_frames(frames: torch.Tensor, like: np.ndarray) -> np.ndarray:
    """``(T, C, H, W)`` -> the layout and dtype of ``like`` (integers rounded and clipped)."""
    frames = frames.permute(0, 2, 3, 1) if like.ndim == 4 else frames.squeeze(1)
    array = frames.contiguous().numpy()
    if np.issubdtype(like.dtype, np.integer) and array.dtype != like.dtype:
        info = np.iinfo(like.dtype)
        array = np.clip(np.rint(array), info.min, info.max)
    return array.astype(like.dtype, copy=False)


class FrameTransform:
    """Applies :meth:`apply` to every frame of ``sample[key]``; samples without ``key`` pass through."""

    def __init__(self, key: str, interpolation: str = "bilinear"):
        if interpolation not in INTERPOLATIONS:
            raise DataError(f"{key} transform: interpolation={interpolation!r}; expected one of {list(INTERPOLATIONS)}")
        self.key, self.interpolation = key, interpolation
        self.antialias = interpolation != "nearest"

    def apply(self, frames: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        array = sample.get(self.key)
        if array is None:
            return sample
        return {**sample, self.key: from_frames(self.apply(to_frames(array), rng), array)}


class Resize(FrameTransform):
    """Resize to ``size``: an int scales the shorter side to it (aspect kept), ``[h, w]`` is exact."""

    def __init__(self, key: str, size: Size, interpolation: str = "bilinear"):
        super().__init__(key, interpolation)
        self.size = [int(size)] if isinstance(size, int) else _pair(size)

    def apply(self, frames, rng):
        return vision_functional().resize(frames, self.size, interpolation=interpolation_mode(self.interpolation),
                                          antialias=self.antialias)


class CenterCrop(FrameTransform):
    """The central ``size`` (int: square) window."""

    def __init__(self, key: str, size: Size):
        super().__init__(key)
        self.size = _pair(size)

    def apply(self, frames, rng):
        return vision_functional().center_crop(frames, self.size)


class RandomResizedCrop(FrameTransform):
    """Inception-style crop (random area fraction and aspect ratio, one box per clip), resized to ``size``."""

    def __init__(
        self,
        key: str,
        size: Size,
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        interpolation: str = "bilinear",
    ):
        super().__init__(key, interpolation)
        self.size, self.scale, self.log_ratio = _pair(size), tuple(scale), (math.log(ratio[0]), math.log(ratio[1]))

    def box(self, height: int, width: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
        """``(top, left, h, w)``, torchvision's algorithm (10 tries, then a central crop) driven by ``rng``."""
        area = height * width
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*self.log_ratio))
            w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
            if 0 < w <= width and 0 < h <= height:
                return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
        lo, hi = math.exp(self.log_ratio[0]), math.exp(self.log_ratio[1])
        if width / height < lo:
            w, h = width, round(width / lo)
        elif width / height > hi:
            w, h = round(height * hi), height
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def apply(self, frames, rng):
        top, left, h, w = self.box(frames.shape[-2], frames.shape[-1], rng)
        return vision_functional().resized_crop(frames, top, left, h, w, self.size,
                                                interpolation=interpolation_mode(self.interpolation),
                                                antialias=self.antialias)


class Flip(FrameTransform):
    """Horizontal flip of the whole clip with probability ``p`` (flip keypoints separately if aligned)."""

    def __init__(self, key: str, p: float = 0.5):
        super().__init__(key)
        self.p = p

    def apply(self, frames, rng):
        return frames.flip(-1) if rng.random() < self.p else frames


def uniform_sample_indices(length: int, num_frames: int, offsets: np.ndarray) -> np.ndarray:
    """Frame ``floor((i + offsets[i]) * length / num_frames)`` of each of ``num_frames`` equal segments.

    Offsets in [0, 1) pick a position inside each segment; clips shorter than ``num_frames`` repeat frames.
    """
    if length < 1:
        raise DataError(f"uniform_sample: the clip has {length} frames; expected at least one to sample {num_frames} from")
    positions = (np.arange(num_frames) + offsets) * (length / num_frames)
    return np.minimum(positions.astype(np.int64), length - 1)


class UniformSample:
    """``num_frames`` frames by uniform segments (TSN/PoseC3D): random position per segment in training,
    the segment centre otherwise.

    The same segment positions are used for every modality in ``keys``, mapped onto each one's own
    length, so RGB, depth, point clouds or skeletons sampled together stay aligned in time.
    ``offset`` is the position inside each segment when not training: 0.5 the centre; 0.0 the segment
    start, i.e. every (length / num_frames)-th frame from the first (EPAM-Net takes RGB frames 0, 3, …, 45
    of its 48 pose frames).
    """

    def __init__(self, num_frames: int, train: bool = True, keys: Sequence[str] = ("rgb",), offset: float = 0.5):
        if not 0.0 <= offset < 1.0:
            raise RecipeError(f"video.uniform_sample: offset={offset}; expected a position in [0, 1) inside each segment")
        self.num_frames, self.train, self.keys, self.offset = num_frames, train, tuple(keys), float(offset)

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        offsets = rng.random(self.num_frames) if self.train else np.full(self.num_frames, self.offset)
        out = dict(sample)
        for key in self.keys:
            array = sample.get(key)
            if array is not None:
                time_axis = 1 if key in ("skeleton", "pose2d") else 0  # (M, T, V, C) raw layouts
                out[key] = np.take(array, uniform_sample_indices(array.shape[time_axis], self.num_frames, offsets),
                                   axis=time_axis)
        return out


class Normalize:
    """uint8 ``(T, H, W, 3)`` -> float32 ``(x / 255 - mean) / std`` in the same layout (float input: already /255)."""

    def __init__(self, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD, key: str = "rgb"):
        self.mean, self.std, self.key = np.asarray(mean, np.float32), np.asarray(std, np.float32), key

    def __call__(self, sample: dict, rng: np.random.Generator) -> dict:
        array = sample.get(self.key)
        if array is None:
            return sample
        scaled = array.astype(np.float32) / 255.0 if array.dtype == np.uint8 else array.astype(np.float32)
        return {**sample, self.key: (scaled - self.mean) / self.std}


# ---------------------------------------------------------------------------------------------------
# Registered factories (``video.*``)


def video_resize(size: Size) -> Resize:
    """Resize frames (bilinear, antialiased); an int scales the shorter side."""
    return Resize("rgb", size)


def video_random_resized_crop(
    size: Size, scale: Sequence[float] = (0.08, 1.0), ratio: Sequence[float] = (3 / 4, 4 / 3)
) -> RandomResizedCrop:
    """Random area/aspect crop resized to ``size``, one box per clip."""
    return RandomResizedCrop("rgb", size, scale, ratio)


def video_center_crop(size: Size) -> CenterCrop:
    return CenterCrop("rgb", size)


def video_flip(p: float = 0.5) -> Flip:
    return Flip("rgb", p)


def video_normalize(mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> Normalize:
    return Normalize(mean, std)


def video_uniform_sample(num_frames: int, train: bool = True, keys: Sequence[str] = ("rgb",),
                         offset: float = 0.5) -> UniformSample:
    return UniformSample(num_frames, train, keys, offset)


SPECS = [
    TransformSpec(name="video.resize", factory=video_resize, modality="rgb",
                  doc="Resize frames (int: shorter side), bilinear + antialias; keeps uint8."),
    TransformSpec(name="video.random_resized_crop", factory=video_random_resized_crop, modality="rgb",
                  doc="Random area/aspect crop per clip, resized to size."),
    TransformSpec(name="video.center_crop", factory=video_center_crop, modality="rgb", doc="Central crop."),
    TransformSpec(name="video.flip", factory=video_flip, modality="rgb", doc="Horizontal flip of the clip, prob p."),
    TransformSpec(name="video.normalize", factory=video_normalize, modality="rgb",
                  doc="uint8 -> float32 (x/255 - mean)/std, ImageNet statistics by default; layout kept."),
    TransformSpec(name="video.uniform_sample", factory=video_uniform_sample, modality="rgb",
                  doc="num_frames by uniform segments (random offset if train, centre otherwise); same positions for all keys."),
]

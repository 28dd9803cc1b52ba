"""UniPose fusion (proposed): the lifted-skeleton stream and a point-cloud stream from one RGB-D clip.

Lift-then-recognise alone loses what the pose does not carry (the held object's shape); a point-cloud
encoder alone sees shapes but learns motion more slowly. Both streams come from the same input: the
``pose`` role's UniPose encoder gives the lifted joints (classified by a skeleton encoder, as in
:mod:`.recognise`) and its input points (``Features.xyz``), which a point-cloud encoder reads after the
clip normalisation of ``pointcloud.normalize`` (centroid, farthest point at 1) on ``cloud_frames`` x
``cloud_points`` (uniform frames, the first points: SynthAct's are in random order). The two pooled
features are concatenated (the ``concat`` mixer). ``streams`` keeps one stream for the single-stream
references with the same encoders, frames and epochs.
"""

from __future__ import annotations

import torch
from torch import nn

from fusion.construct import BuildContext, create_encoder
from fusion.errors import RecipeError
from fusion.mixers.concat import ConcatMixer
from fusion.types import Features, MixerOutput, MixerSpec
from fusion_plugins.unipose.recognise import LIFTED, LiftThenRecognise

STREAMS = ("lifted", "cloud")
DEFAULT_CLOUD = {"name": "pointnet2_temporal",
                 "args": {"num_centroids": [64, 16], "radii": [0.2, 0.4], "k": [16, 16],
                          "sa_mlps": [[32, 32, 64], [64, 64, 128], [128, 128, 256]], "temporal": "conv"}}


def normalise_clip(xyz: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``(B, T, N, 3)`` -> centred on the clip's valid points, farthest at distance 1; padding stays 0."""
    valid = (xyz != 0).any(-1, keepdim=True).to(xyz.dtype)
    centre = (xyz * valid).sum((1, 2), keepdim=True) / valid.sum((1, 2), keepdim=True).clamp_min(1.0)
    radius = ((xyz - centre).norm(dim=-1, keepdim=True) * valid).amax((1, 2), keepdim=True)
    return (xyz - centre) / radius.clamp_min(eps) * valid


class UniPoseFusion(nn.Module):
    """Lifted skeleton stream + point-cloud stream -> concat -> ``fused``.

    Args:
        recogniser: skeleton encoder block for the lifted joints (see :class:`.LiftThenRecognise`).
        cloud: point-cloud encoder block (default: the benchmark's small ``pointnet2_temporal``).
        cloud_frames / cloud_points: frames and points the point-cloud stream reads (0: all).
        streams: ``[lifted, cloud]`` (fusion) or one of them (single-stream reference).
        projection / dropout: of the concatenation (as the ``concat`` mixer).
        layout / detach: of the lifted stream.
    """

    def __init__(self, dims: dict[str, int], num_classes: int, roles: dict, recogniser: dict | None = None,
                 cloud: dict | None = None, cloud_frames: int = 4, cloud_points: int = 128,
                 streams: list[str] | tuple[str, ...] = STREAMS, projection: int = 256, dropout: float = 0.2,
                 layout: str = "ntu25", detach: bool = True, ctx: BuildContext | None = None):
        super().__init__()
        self.streams = tuple(streams)
        if not self.streams or any(s not in STREAMS for s in self.streams):
            raise RecipeError(f"unipose_fusion streams={list(streams)!r}; expected a non-empty subset of {list(STREAMS)}")
        self.pose = roles.get("pose", "pose")
        self.cloud_frames, self.cloud_points = cloud_frames, cloud_points
        out = {}
        if "lifted" in self.streams:
            self.lifted = LiftThenRecognise(dims, num_classes, roles, recogniser, layout, True, detach, ctx=ctx)
            out["lifted"] = self.lifted.out_dim
        if "cloud" in self.streams:
            block = cloud or DEFAULT_CLOUD
            self.cloud = create_encoder(block, ctx.at("cloud"))
            out["cloud"] = self.cloud.out_dim
        self.concat = ConcatMixer(out, num_classes, {}, projection, dropout)
        self.out_dim = self.concat.out_dim

    def cloud_input(self, xyz: torch.Tensor) -> torch.Tensor:
        frames = xyz.shape[1]
        if self.cloud_frames and self.cloud_frames < frames:
            index = torch.linspace(0, frames - 1, self.cloud_frames, device=xyz.device).round().long()
            xyz = xyz[:, index]
        if self.cloud_points:
            xyz = xyz[:, :, : self.cloud_points]
        return normalise_clip(xyz)

    def forward(self, features, masks) -> MixerOutput:
        mask = masks[self.pose]
        streams, aux = {}, {}
        if "lifted" in self.streams:
            lifted = self.lifted(features, masks)
            streams["lifted"], aux[LIFTED.name] = Features(pooled=lifted.fused), LIFTED.read(lifted.aux, "unipose_fusion", kind="mixer")
        if "cloud" in self.streams:
            streams["cloud"] = self.cloud(self.cloud_input(features[self.pose].xyz))
        fused = self.concat(streams, {name: mask for name in streams})
        return MixerOutput(fused=fused.fused, aux=aux)


SPEC = MixerSpec(
    name="unipose_fusion",
    factory=UniPoseFusion,
    nested={"recogniser": "encoder", "cloud": "encoder"},
    aux=(LIFTED,),
    needs={"pose": frozenset({"joints", "xyz"})},
    doc="UniPose fusion (proposed): lifted-skeleton stream + point-cloud stream of the same clip, concatenated.",
)

"""Keypoint heatmaps (PoseC3D's ``GeneratePoseTarget`` with joints only), made on the fly from ``pose2d``.

Each joint of each person becomes a Gaussian on an ``h x w`` grid, ``score * exp(-d^2 / (2 sigma^2))``,
cut to zero outside the ``int(mu -/+ 3 sigma)`` pixel window as PoseC3D does; persons are merged by a
maximum. EPAM-Net uses sigma 0.6 on a 56 x 56 grid for 17 COCO keypoints. The
keypoints are in the pixel frame of an ``image_size`` image (the box the RGB frames show), rescaled to
the grid, so heatmaps and RGB stay spatially aligned.

:class:`PoseHeatmaps` (``pose_heatmaps``) is a parameter-free ``pose2d`` encoder: batch keypoints
``(B, 3, T, V, M)`` -> Features(volume = heatmaps ``(B, V, T, h, w)``), the official split between the
data pipeline (heatmaps) and the model (a backbone run by the mixer). :class:`PoseHeatmapNet`
(``pose_heatmap_net``) adds the backbone, built by registry name (EPAM-Net: ``xshiftnet_pose``), and
gives its Features: the pose stream as an ordinary encoder, so unimodal pose training and EPAM-Net
fusion share parameter names (``encoders.pose2d.backbone.*``) and ``model.init`` carries one to the other.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from fusion.construct import BuildContext, create_encoder
from fusion.errors import ContractError
from fusion.types import EncoderSpec, Features


def keypoint_heatmaps(
    keypoints: torch.Tensor,
    size: Sequence[int],
    image_size: Sequence[int],
    sigma: float = 0.6,
    use_score: bool = True,
    window: float = 3.0,
    eps: float = 1e-4,
) -> torch.Tensor:
    """Heatmaps ``(B, V, T, h, w)`` from keypoints ``(B, C >= 2, T, V, M)`` (x, y pixels [, score]).

    Args:
        size: ``(h, w)`` of the heatmap grid (grid point ``(i, j)`` is pixel ``(y=i, x=j)``).
        image_size: ``(H, W)`` of the image the keypoint pixels refer to; coordinates scale by ``h/H, w/W``.
        sigma: Gaussian standard deviation in grid pixels.
        use_score: amplitude = detector score (channel 2); otherwise 1.
        window: the Gaussian is zero beyond ``int(mu +- window * sigma)`` (PoseC3D); 0 keeps it everywhere.
        eps: keypoints with a score below ``eps`` draw nothing (missing detections, padded persons).
    """
    h, w = int(size[0]), int(size[1])
    x = keypoints[:, 0] * (w / float(image_size[1]))  # (B, T, V, M)
    y = keypoints[:, 1] * (h / float(image_size[0]))
    score = keypoints[:, 2] if use_score and keypoints.shape[1] > 2 else torch.ones_like(x)
    if keypoints.shape[1] > 2:
        score = score * (keypoints[:, 2] >= eps).to(score.dtype)
    grid_x = torch.arange(w, dtype=x.dtype, device=x.device)
    grid_y = torch.arange(h, dtype=x.dtype, device=x.device)

    def profile(grid: torch.Tensor, mu: torch.Tensor) -> torch.Tensor:  # separable 1-D Gaussian (B, T, V, n)
        d = grid - mu.unsqueeze(-1)
        g = torch.exp(-d.square() / (2 * sigma**2))
        if window > 0:
            lo = torch.trunc(mu - window * sigma).unsqueeze(-1)
            hi = torch.trunc(mu + window * sigma).unsqueeze(-1)
            g = g * ((grid >= lo) & (grid <= hi)).to(g.dtype)
        return g

    out = None
    for person in range(keypoints.shape[-1]):  # max over persons, one person's maps in memory at a time
        gy = profile(grid_y, y[..., person])
        gx = profile(grid_x, x[..., person])
        maps = score[..., person, None, None] * gy.unsqueeze(-1) * gx.unsqueeze(-2)  # (B, T, V, h, w)
        out = maps if out is None else torch.maximum(out, maps)
    return out.permute(0, 2, 1, 3, 4).contiguous()


class PoseHeatmaps(nn.Module):
    """``pose2d (B, 3, T, V, M)`` -> Features(volume = heatmaps ``(B, V, T, h, w)``); no parameters.

    Args:
        num_joints: V (17 for COCO keypoints); ``out_dim`` = V channels.
        size: heatmap grid ``(h, w)`` (EPAM-Net: 56 x 56).
        image_size: ``(H, W)`` of the frames the keypoints were detected in (after any crop/resize).
        sigma, use_score, window: see :func:`keypoint_heatmaps` (EPAM-Net: 0.6, True, 3).
    """

    def __init__(
        self,
        num_joints: int = 17,
        size: Sequence[int] = (56, 56),
        image_size: Sequence[int] = (224, 224),
        sigma: float = 0.6,
        use_score: bool = True,
        window: float = 3.0,
    ):
        super().__init__()
        self.num_joints, self.size, self.image_size = num_joints, tuple(size), tuple(image_size)
        self.sigma, self.use_score, self.window = sigma, use_score, window
        self.out_dim = num_joints

    def forward(self, keypoints: torch.Tensor) -> Features:
        if keypoints.dim() != 5 or keypoints.shape[3] != self.num_joints:
            raise ContractError(
                f"pose_heatmaps expects pose2d (B, 3, T, V={self.num_joints}, M), got {tuple(keypoints.shape)}"
            )
        volume = keypoint_heatmaps(keypoints, self.size, self.image_size, self.sigma, self.use_score, self.window)
        return Features(volume=volume)

    def extra_repr(self) -> str:
        return f"joints={self.num_joints}, size={self.size}, image_size={self.image_size}, sigma={self.sigma}"


class PoseHeatmapNet(nn.Module):
    """``pose2d`` keypoints -> :class:`PoseHeatmaps` -> a registered video backbone -> its Features.

    Args:
        backbone: registry name of the encoder run on the heatmaps (``in_channels`` is set to V).
        backbone_args: its arguments (EPAM-Net full size: the defaults of ``xshiftnet_pose``).
        num_joints, size, image_size, sigma, use_score, window: the heatmaps, see :class:`PoseHeatmaps`.
    """

    def __init__(
        self,
        backbone: str = "xshiftnet_pose",
        backbone_args: dict | None = None,
        num_joints: int = 17,
        size: Sequence[int] = (56, 56),
        image_size: Sequence[int] = (224, 224),
        sigma: float = 0.6,
        use_score: bool = True,
        window: float = 3.0,
        ctx: BuildContext | None = None,
    ):
        super().__init__()
        self.heatmaps = PoseHeatmaps(num_joints, size, image_size, sigma, use_score, window)
        self.backbone = create_encoder({"name": backbone, "args": backbone_args}, ctx.at("backbone"), in_channels=num_joints)
        self.out_dim = int(self.backbone.out_dim)

    def forward(self, keypoints: torch.Tensor) -> Features:
        return self.backbone(self.heatmaps(keypoints).volume)


SPEC = EncoderSpec(
    name="pose_heatmaps",
    factory=PoseHeatmaps,
    modality="pose2d",
    provides=frozenset({"volume"}),
    doc="Parameter-free: pose2d keypoints -> Gaussian joint heatmaps (B, V, T, h, w) (PoseC3D/EPAM-Net input).",
)

NET_SPEC = EncoderSpec(
    name="pose_heatmap_net",
    factory=PoseHeatmapNet,
    nested={"backbone": "encoder@backbone_args"},
    modality="pose2d",
    provides=frozenset({"volume", "frames", "pooled"}),
    doc="pose2d keypoints -> joint heatmaps -> a video backbone (EPAM-Net: xshiftnet_pose, 216-d at stride 8).",
)

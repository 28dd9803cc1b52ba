"""MAMP: Masked Motion Prediction (Mao et al., ICCV 2023), and the MAE baseline it compares with.

The pre-training objective for the ``skeleton_transformer`` encoder (its token API): tokens are
one joint over ``u`` frames; motion-aware masking hides ``r`` = 90 % of them, preferring moving
tokens; the encoder runs on the visible tokens only; a light transformer decoder fills in mask
tokens (with its own spatial and temporal embeddings) and predicts, for every token, the frame-level
motion ``x[t+1] − x[t]`` (``x[T−1]``'s motion is 0) of its ``u`` frames, normalised per token. The
loss is the MSE over masked tokens only. ``tau <= 0`` gives random masking; ``target="position"``
with ``tau: 0`` is the MAE baseline.

The decoder's size is MAMP's (Linear 256→256, depth 3 for NTU-60 / 5 for NTU-120 and PKU-MMD,
8 heads, final LN, Linear 256 → u·C); it belongs to the objective and is dropped after pre-training.
"""

from __future__ import annotations

import torch
from torch import nn

from fusion.errors import ContractError, RecipeError
from fusion.types import ObjectiveSpec
from fusion_plugins.skeleton.transformer import run_blocks, vit_block, vit_init

from .masking import TokenMask, token_mask, token_motion
from .pretext import PretextObjective


class MaskedDecoder(nn.Module):
    """MAMP's decoder: embed visible latents, insert mask tokens, un-shuffle, add embeddings, blocks, predict."""

    #: True: timm's block forward; False: the fused fast path (``fusion.fastpath.use_reference`` switches).
    reference = False

    def __init__(self, encoder_dim: int, num_joints: int, steps: int, out_dim: int, dim: int = 256, depth: int = 3,
                 heads: int = 8, mlp_ratio: float = 4.0):
        super().__init__()
        self.embed = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1, num_joints, dim))
        self.temp_embed = nn.Parameter(torch.zeros(1, steps, 1, dim))
        self.blocks = nn.ModuleList(vit_block(dim, heads, mlp_ratio, qkv_bias=True, norm_layer=nn.LayerNorm)
                                    for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.pred = nn.Linear(dim, out_dim)
        self.apply(vit_init)
        nn.init.normal_(self.mask_token, std=0.02)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.temp_embed, std=0.02)

    def forward(self, latent: torch.Tensor, restore: torch.Tensor, steps: int, joints: int) -> torch.Tensor:
        """``latent`` (N, L_keep, D_enc) → predictions (N, L, out_dim) in token order."""
        x = self.embed(latent)
        n, keep, d = x.shape
        length = restore.shape[1]
        x = torch.cat([x, self.mask_token.expand(n, length - keep, d)], dim=1)
        x = x.gather(1, restore[..., None].expand(-1, -1, d))
        if steps != self.temp_embed.shape[1]:
            raise ContractError(f"MAMP decoder: built for {self.temp_embed.shape[1]} time steps, got {steps} "
                                "(set the objective's frames to the pre-training clip length)")
        x = (x.view(n, steps, joints, d) + self.pos_embed + self.temp_embed).view(n, length, d)
        return self.pred(self.norm(run_blocks(self.blocks, x, self.reference)))


def motion_of(seq: torch.Tensor) -> torch.Tensor:
    """Frame-level motion of ``(N, T, V, C)``: ``x[t+1] − x[t]``, zero for the last frame."""
    return torch.cat([seq[:, 1:] - seq[:, :-1], torch.zeros_like(seq[:, :1])], dim=1)


def normalise_tokens(target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-token normalisation over the last axis: ``(y − mean) / sqrt(var + eps)`` (MAE's ``norm_pix_loss``)."""
    mean = target.mean(-1, keepdim=True)
    var = target.var(-1, keepdim=True, unbiased=True)
    return (target - mean) / (var + eps) ** 0.5


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``Σ_i mask_i · mean_P (ŷ_i − y_i)² / Σ_i mask_i``: only masked tokens count."""
    per_token = (pred - target).pow(2).mean(-1)
    return (per_token * mask).sum() / mask.sum().clamp_min(1.0)


class MAMP(PretextObjective):
    """Masked motion prediction on a ``skeleton_transformer`` encoder.

    Args:
        mask_ratio: fraction r of tokens masked (0.9); exactly ``L − int(L·(1 − r))`` per sequence.
        tau: motion-aware temperature (0.80 NTU-60 and PKU-MMD, 0.75 NTU-120); ``<= 0``: random masking.
        target: ``"motion"`` (MAMP) or ``"position"`` (MAE baseline).
        norm_target: normalise the target per token (MAMP's ``norm_skes_loss``).
        encoder_dim, layout, frames, patch, in_channels: must match the encoder (checked on the first batch);
            ``frames`` is the pre-training clip length (120 on NTU).
        decoder_dim, decoder_depth, decoder_heads, mlp_ratio: the decoder (256, 3 or 5, 8, 4).
    """

    #: The registry name, used in error messages.
    objective_name = "mamp"

    def __init__(self, mask_ratio: float = 0.9, tau: float = 0.8, target: str = "motion", norm_target: bool = True,
                 encoder_dim: int = 256, layout: str = "ntu25", frames: int = 120, patch: int = 4, in_channels: int = 3,
                 decoder_dim: int = 256, decoder_depth: int = 3, decoder_heads: int = 8, mlp_ratio: float = 4.0,
                 modality: str = "skeleton", base_lr: float | None = None):
        super().__init__(modality, 1, base_lr)
        from fusion_plugins.skeleton.layouts import get_layout

        if target not in ("motion", "position"):
            raise RecipeError(f"objective mamp, argument target: must be 'motion' or 'position', got {target!r}")
        if not 0 < mask_ratio < 1:
            raise RecipeError(f"objective mamp, argument mask_ratio: must lie in (0, 1), got {mask_ratio}")
        if frames % patch:
            raise RecipeError(f"objective mamp, arguments frames / patch: frames={frames} is not a multiple of patch={patch}")
        self.mask_ratio, self.tau, self.target, self.norm_target = float(mask_ratio), float(tau), target, norm_target
        self.encoder_dim, self.patch = encoder_dim, patch
        joints = get_layout(layout).num_joints
        self.decoder = MaskedDecoder(encoder_dim, joints, frames // patch, patch * in_channels, decoder_dim,
                                     decoder_depth, decoder_heads, mlp_ratio)

    def check_encoder(self, encoder) -> None:
        for attr in ("fold_persons", "patchify", "embed", "forward_tokens"):
            if not hasattr(encoder, attr):
                raise ContractError(f"mamp needs an encoder with the token API (skeleton_transformer); "
                                    f"{type(encoder).__name__} has no {attr}()")
        if encoder.dim != self.encoder_dim or encoder.patch != self.patch:
            raise ContractError(f"mamp: objective built for encoder dim {self.encoder_dim}, patch {self.patch}; the "
                                f"encoder has dim {encoder.dim}, patch {encoder.patch}: set objective.args to match")

    def masking(self, patches: torch.Tensor, generator: torch.Generator | None = None) -> TokenMask:
        """Motion-aware (``tau > 0``) or random masking of the ``(N, TP, V, P)`` tokens."""
        n, steps, joints, _ = patches.shape
        motion = token_motion(patches) if self.tau > 0 else None
        return token_mask(n, steps * joints, self.mask_ratio, motion, self.tau, generator, patches.device)

    def reconstruct(self, encoder, seq: torch.Tensor, mask: TokenMask) -> torch.Tensor:
        """Predictions (N, L, u·C) for every token from the visible ones."""
        patches = encoder.patchify(seq)
        n, steps, joints, _ = patches.shape
        tokens = encoder.embed(patches).flatten(1, 2)
        visible = tokens.gather(1, mask.keep[..., None].expand(-1, -1, tokens.shape[-1]))
        return self.decoder(encoder.forward_tokens(visible), mask.restore, steps, joints)

    def targets(self, encoder, seq: torch.Tensor) -> torch.Tensor:
        """(N, L, u·C): per-token (normalised) motion or position."""
        source = motion_of(seq) if self.target == "motion" else seq
        target = encoder.patchify(source).flatten(1, 2)
        return normalise_tokens(target) if self.norm_target else target

    def pretext_loss(self, model, views, batch):
        encoder = self.encoder(model)
        self.check_encoder(encoder)
        seq = encoder.fold_persons(views[0])
        mask = self.masking(encoder.patchify(seq))
        pred = self.reconstruct(encoder, seq, mask)
        loss = masked_mse(pred, self.targets(encoder, seq), mask.mask)
        return loss, {"masked_fraction": mask.mask.mean().detach()}


SPEC = ObjectiveSpec(name="mamp", factory=MAMP,
                     doc="MAMP: motion-aware masking, transformer encoder on visible tokens, masked motion MSE (tau<=0: MAE).",
                     batch=("<modality>",))

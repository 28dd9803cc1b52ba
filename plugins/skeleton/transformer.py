"""Skeleton transformer: MAMP's encoder (Mao et al., ICCV'23), a plain ViT over joint × time-patch tokens.

Each person is an independent sequence (persons are folded into the batch). A token is one joint over
``patch`` consecutive frames (u = 4): its ``u·C`` values are embedded by one Linear layer, then a learned
spatial embedding (one per joint) and a learned temporal embedding (one per time patch) are added, and
pre-norm ViT blocks (LN → MHSA with qkv bias → residual; LN → MLP 4× GELU → residual) run on all
``T/u · V`` tokens, followed by a final LayerNorm. There is no CLS token. The ``paper`` size is MAMP's:
dim 256, depth 8, 8 heads, MLP ratio 4, u = 4, 120 frames (750 tokens on NTU), 6.34 M parameters.

Token API, for masked pretext objectives (MAMP's motion-aware masking, MAE) that run the encoder on
the visible tokens only::

    seq = encoder.fold_persons(x)            # (B, C, T, V, M) -> (B·M, T, V, C)
    patches = encoder.patchify(seq)          # (B·M, T/u, V, u·C): MAMP's reconstruction-target layout
    tokens = encoder.embed(patches)          # (B·M, T/u, V, D), positional embeddings added
    tokens = tokens.flatten(1, 2)            # (B·M, L, D), token l = t·V + v (MAMP's order)
    visible = tokens.gather(1, keep[..., None].expand(-1, -1, tokens.shape[-1]))
    latent = encoder.forward_tokens(visible) # blocks + final norm on any subset of tokens

``forward(x)`` is the same path with every token kept, returning :class:`Features`.
Checkpoint note: MAMP embeds with ``Conv2d(C, D, (u, 1))``; its weight maps onto ``patch_embed`` as
``conv.weight[..., 0].permute(0, 2, 1).reshape(D, u·C)``. Block, ``pos_embed`` (spatial) and
``temp_embed`` (temporal) names and shapes match MAMP's encoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import ContractError, RecipeError
from fusion.fast_linear import fast_linear
from fusion.types import Features

from .blocks import check_input, joint_features, select_config
from .layouts import get_layout

CONFIGS: dict[str, dict] = {
    "paper": dict(dim=256, depth=8, heads=8, mlp_ratio=4.0, patch=4, frames=120),
    "small": dict(dim=32, depth=2, heads=4, mlp_ratio=4.0, patch=4, frames=16),
}
POOLS = ("mean", "joints")



def vit_block(dim: int, heads: int, mlp_ratio: float, **kwargs) -> nn.Module:
    """timm's ViT ``Block`` (imported here, on first use: timm pulls in torchvision, ~4 s at every
    ``fusion`` command otherwise)."""
    from timm.models.vision_transformer import Block

    return Block(dim, heads, mlp_ratio, **kwargs)


def vit_block_fast(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """timm ``Block.forward`` with its Linear layers through :func:`fusion.fast_linear.fast_linear`.

    Same parameters and the same algebra: the bias, the MLP's exact GELU (in inference) and each residual add
    (when no LayerScale, DropPath or active dropout sits in between) are fused into the matrix products.
    """
    attn, mlp = block.attn, block.mlp
    if getattr(attn, "gate", None) is not None:  # timm's gated attention: not covered, run the block itself
        return block(x)
    b, n, _ = x.shape
    qkv = fast_linear(block.norm1(x), attn.qkv.weight, attn.qkv.bias)
    q, k, v = qkv.view(b, n, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    out = F.scaled_dot_product_attention(q, k, v, dropout_p=attn.attn_drop.p if attn.training else 0.0)
    out = attn.norm(out.transpose(1, 2).reshape(b, n, attn.attn_dim))
    x = _residual_linear(x, out, attn.proj, attn.proj_drop, block.ls1, block.drop_path1)
    exact_gelu = isinstance(mlp.act, nn.GELU) and mlp.act.approximate == "none"
    hidden = fast_linear(block.norm2(x), mlp.fc1.weight, mlp.fc1.bias, gelu=exact_gelu)
    hidden = mlp.norm(mlp.drop1(hidden if exact_gelu else mlp.act(hidden)))
    return _residual_linear(x, hidden, mlp.fc2, mlp.drop2, block.ls2, block.drop_path2)


def _residual_linear(x, hidden, linear: nn.Linear, dropout: nn.Module, scale: nn.Module, drop_path: nn.Module):
    """``x + drop_path(scale(dropout(linear(hidden))))``, the add fused into the product when the rest is identity."""
    if isinstance(scale, nn.Identity) and isinstance(drop_path, nn.Identity) and (dropout.p == 0 or not dropout.training):
        return fast_linear(hidden, linear.weight, linear.bias, residual=x)
    return x + drop_path(scale(dropout(fast_linear(hidden, linear.weight, linear.bias))))


def run_blocks(blocks: nn.ModuleList, x: torch.Tensor, reference: bool) -> torch.Tensor:
    """The ViT blocks on ``x``: timm's own forward (``reference``) or :func:`vit_block_fast`."""
    for block in blocks:
        x = block(x) if reference else vit_block_fast(block, x)
    return x


class SkeletonTransformer(nn.Module):
    """ViT over joint × time-patch tokens; ``(B, C, T, V, M)`` → :class:`Features`.

    Args:
        layout: skeleton layout name (V spatial embeddings).
        in_channels: input channels C.
        dim, depth, heads, mlp_ratio: transformer size.
        patch: temporal patch length u; T must be a multiple of it.
        frames: the clip length the temporal embedding is built for (T/u embeddings); other lengths
            interpolate it linearly, as MAMP's downstream code does.
        drop_path: stochastic depth rate, increasing linearly over the blocks up to this value.
        pool: what ``pooled`` is. ``mean``: the average token over persons, time and joints (D; MAMP's
            linear probe). ``joints``: each joint's token averaged over time and persons, the V joint
            vectors concatenated joint-major (V·D; MAMP's fine-tuning head input, 6400-d on NTU).
    """

    def __init__(self, layout: str = "ntu25", in_channels: int = 3, dim: int = 256, depth: int = 8, heads: int = 8,
                 mlp_ratio: float = 4.0, patch: int = 4, frames: int = 120, drop_path: float = 0.0,
                 pool: str = "mean"):
        super().__init__()
        if pool not in POOLS:
            raise RecipeError(f"skeleton_transformer: pool={pool!r}; expected one of {', '.join(POOLS)}")
        if frames % patch:
            raise RecipeError(f"skeleton_transformer: frames={frames} is not a multiple of patch={patch}; "
                              f"expected frames divisible by the temporal patch length")
        self.layout = get_layout(layout)
        self.in_channels, self.patch, self.pool, self.dim = in_channels, patch, pool, dim
        self.out_dim = dim * self.layout.num_joints if pool == "joints" else dim
        self.patch_embed = nn.Linear(in_channels * patch, dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, 1, self.layout.num_joints, dim))
        self.temp_embed = nn.Parameter(torch.zeros(1, frames // patch, 1, dim))
        rates = torch.linspace(0, drop_path, depth).tolist()
        self.blocks = nn.ModuleList(
            vit_block(dim, heads, mlp_ratio, qkv_bias=True, drop_path=rate, norm_layer=nn.LayerNorm) for rate in rates
        )
        self.norm = nn.LayerNorm(dim)
        self.apply(vit_init)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.temp_embed, std=0.02)

    # ---------------------------------------------------------------- token API

    def fold_persons(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, T, V, M)`` → ``(B·M, T, V, C)``, checking the shape against the layout and patch."""
        b, c, t, v, m = check_input(x, "skeleton_transformer", self.layout, self.in_channels)
        if t % self.patch:
            raise ContractError(f"skeleton_transformer: T={t} frames is not a multiple of the temporal patch {self.patch}")
        return x.permute(0, 4, 2, 3, 1).reshape(b * m, t, v, c)

    def patchify(self, seq: torch.Tensor) -> torch.Tensor:
        """``(N, T, V, C)`` → ``(N, T/u, V, u·C)``: each joint's u frames, frame-major then channel."""
        n, t, v, c = seq.shape
        return seq.reshape(n, t // self.patch, self.patch, v, c).permute(0, 1, 3, 2, 4).reshape(n, t // self.patch, v, -1)

    def embed(self, patches: torch.Tensor) -> torch.Tensor:
        """``(N, T/u, V, u·C)`` → tokens ``(N, T/u, V, D)`` with spatial and temporal embeddings added."""
        return self.patch_embed(patches) + self.pos_embed + self.temporal_embedding(patches.shape[1])

    def temporal_embedding(self, steps: int) -> torch.Tensor:
        """The (1, steps, 1, D) temporal embedding, linearly interpolated if ``steps`` differs."""
        if steps == self.temp_embed.shape[1]:
            return self.temp_embed
        resized = F.interpolate(self.temp_embed[:, :, 0].transpose(1, 2), size=steps, mode="linear", align_corners=False)
        return resized.transpose(1, 2)[:, :, None]

    def forward_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """Blocks and final norm on ``(N, L, D)`` tokens (any subset, e.g. the visible ones)."""
        return self.norm(run_blocks(self.blocks, tokens, self.reference))

    # ---------------------------------------------------------------- features

    #: True: timm's block forward (the reference); False: :func:`vit_block_fast` (see ``fusion.fastpath``).
    reference = False

    def forward_reference(self, x: torch.Tensor) -> Features:
        """:meth:`forward` through timm's own block forward (what :func:`fusion.fastpath.use_reference` selects)."""
        fast, self.reference = self.reference, True
        try:
            return self.forward(x)
        finally:
            self.reference = fast

    def forward(self, x: torch.Tensor) -> Features:
        tokens = self.embed(self.patchify(self.fold_persons(x)))  # B·M, T', V, D
        n, steps, v, d = tokens.shape
        tokens = self.forward_tokens(tokens.reshape(n, steps * v, d)).reshape(n, steps, v, d)
        features = joint_features(tokens.permute(0, 3, 1, 2), x.shape[0], x.shape[4])
        if self.pool == "joints":  # (B, D, T', V) -> (B, V·D), joint-major
            features.pooled = features.joints.mean(2).transpose(1, 2).flatten(1)
        return features


def vit_init(module: nn.Module) -> None:
    """MAMP's (JAX ViT) initialisation: xavier-uniform Linear with zero bias, LayerNorm γ=1, β=0."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def skeleton_transformer(layout: str = "ntu25", in_channels: int = 3, config: str = "paper", dim: int | None = None,
                         depth: int | None = None, heads: int | None = None, mlp_ratio: float | None = None,
                         patch: int | None = None, frames: int | None = None,
                         drop_path: float = 0.0, pool: str = "mean") -> SkeletonTransformer:
    """Build the MAMP skeleton transformer from a named ``config`` (``paper``, ``small``); arguments override it.

    Args:
        layout: skeleton layout name.
        in_channels: input channels C.
        config: ``paper`` (dim 256, depth 8, 8 heads, 120 frames) or ``small`` (dim 32, depth 2, 4 heads, 16 frames).
        dim, depth, heads, mlp_ratio, patch, frames: override the config.
        drop_path: stochastic depth (MAMP fine-tuning uses 0.3, pre-training 0).
        pool: ``mean`` (D-dim pooled features) or ``joints`` (V·D, MAMP's fine-tuning head input).
    """
    cfg = select_config("skeleton_transformer", CONFIGS, config, dim=dim, depth=depth, heads=heads,
                        mlp_ratio=mlp_ratio, patch=patch, frames=frames)
    return SkeletonTransformer(layout, in_channels, drop_path=drop_path, pool=pool, **cfg)

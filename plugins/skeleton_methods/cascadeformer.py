"""CascadeFormer (Peng & Yilmaz, ICPR 2026): masked pretraining of a frame transformer, then cascading fine-tuning.

Stage 1 (objective ``cascadeformer_pretrain``, encoder ``cascadeformer_t1``): T1 embeds each frame's
joints (``Linear(J·D → d)``; variant 1.1 first mixes neighbouring joints with two 1-D convs over J;
variant 1.2 uses a one-layer spatial transformer over the J joint tokens of d/J dims), adds a learnable
positional embedding of 64 frames and runs a post-norm ``nn.TransformerEncoder`` (FFN 2048, ReLU,
dropout 0.1). A random 30% of the (frame, joint) slots are zeroed and a ``Linear(d → J·D)`` head
reconstructs them; the MSE counts masked slots only.

Stage 2 (encoder ``cascadeformer``, ``model.init`` from stage 1 with ``keys: model.encoders.skeleton.t1``):
``x1 = T1(x)``, ``x2 = T2(x1)`` with a fresh transformer of the same size (dropout 0.2), fusion by
cross-attention ``u = LN(x1 + MHA(x1, x2, x2))``, ``out = LN(u + FFN(u))``, mean over frames; the
``cascadeformer_mlp`` head is ``LN → Dropout(0.3) → Linear(d, d) → ReLU → Dropout(0.3) → Linear(d, C)``.
T1 keeps training (the official ``freezeT1 = False``).

Input is one person: the most active one, ``argmax_m Σ|x|`` over (T, V, C). More than 64 frames is an
error (the positional table has 64 rows), as in the official code.
"""

from __future__ import annotations

import torch
from torch import nn

from fusion.errors import ContractError, RecipeError
from fusion.types import Batch, Features, HeadSpec, ObjectiveOutput, ObjectiveSpec, batch_tensor

MAX_FRAMES = 64
VARIANTS = ("1.0", "1.1", "1.2")


def most_active_person(x: torch.Tensor) -> torch.Tensor:
    """``(B, C, T, V, M)`` → ``(B, T, V, C)`` of the person with the largest ``Σ|x|``."""
    b, c, t, v, _ = x.shape
    person = x.abs().sum((1, 2, 3)).argmax(1)
    chosen = x.gather(4, person.view(b, 1, 1, 1, 1).expand(b, c, t, v, 1)).squeeze(4)
    return chosen.permute(0, 2, 3, 1)


def encoder_stack(dim: int, heads: int, layers: int, dropout: float, ffn: int = 2048) -> nn.TransformerEncoder:
    """PyTorch's default post-norm ReLU encoder (``dim_feedforward`` 2048 whatever ``d``), batch-first."""
    layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=ffn, dropout=dropout, batch_first=True)
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class JointMixer(nn.Module):
    """Variant 1.1: ``Conv1d(D, D, 3) → ReLU → Conv1d(D, D, 1)`` along the joint axis of every frame."""

    def __init__(self, channels: int):
        super().__init__()
        self.net = nn.Sequential(nn.Conv1d(channels, channels, 3, padding=1), nn.ReLU(), nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, j, d = x.shape
        return self.net(x.reshape(b * t, j, d).transpose(1, 2)).transpose(1, 2).reshape(b, t, j, d)


class SpatialTransformer(nn.Module):
    """Variant 1.2: joints embedded to ``d/J`` dims, one transformer layer over the J tokens, flattened to d."""

    def __init__(self, joints: int, channels: int, dim: int, heads: int, ffn: int):
        super().__init__()
        if dim % joints:
            raise RecipeError(f"cascadeformer 1.2: dim {dim} must be divisible by the {joints} joints")
        self.embed = nn.Linear(channels, dim // joints)
        self.encoder = encoder_stack(dim // joints, heads, 1, 0.1, ffn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, j, d = x.shape
        return self.encoder(self.embed(x.reshape(b * t, j, d))).reshape(b, t, -1)


class T1(nn.Module):
    """The pretrained frame transformer: ``(B, T, J, D)`` → ``(B, T, d)``."""

    def __init__(self, joints: int, channels: int, dim: int, heads: int, layers: int, variant: str = "1.0",
                 ffn: int = 2048, dropout: float = 0.1):
        super().__init__()
        if variant not in VARIANTS:
            raise RecipeError(f"cascadeformer: unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
        self.joints, self.channels, self.dim = joints, channels, dim
        self.mixer = JointMixer(channels) if variant == "1.1" else None
        self.embed = SpatialTransformer(joints, channels, dim, heads, ffn) if variant == "1.2" else nn.Linear(
            joints * channels, dim)
        self.variant = variant
        self.pos_embedding = nn.Parameter(torch.zeros(1, MAX_FRAMES, dim))
        nn.init.trunc_normal_(self.pos_embedding, std=0.02)
        self.encoder = encoder_stack(dim, heads, layers, dropout, ffn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, j, d = x.shape
        if t > MAX_FRAMES:
            raise ContractError(f"cascadeformer: T={t} frames exceed the {MAX_FRAMES}-frame positional embedding; "
                                "resample the clip to at most 64 frames (skeleton.valid_crop_resize)")
        if (j, d) != (self.joints, self.channels):
            raise ContractError(f"cascadeformer: expected (B, T, {self.joints}, {self.channels}) joints, got {tuple(x.shape)}")
        if self.mixer is not None:
            x = self.mixer(x)
        h = self.embed(x) if self.variant == "1.2" else self.embed(x.reshape(b, t, j * d))
        return self.encoder(h + self.pos_embedding[:, :t])


class CrossAttentionFusion(nn.Module):
    """``u = LN(x1 + Drop(MHA(x1, x2, x2)))``, ``out = LN(u + Drop(FFN(u)))``, FFN = Linear → ReLU → Drop → Linear."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.2):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        u = self.norm1(x1 + self.dropout(self.attention(x1, x2, x2, need_weights=False)[0]))
        return self.norm2(u + self.dropout(self.ffn(u)))


class CascadeFormerT1Encoder(nn.Module):
    """Stage 1 encoder: T1 alone (``frames`` = its tokens, ``pooled`` = their mean); pretrained by
    ``cascadeformer_pretrain``."""

    def __init__(self, joints: int = 25, channels: int = 3, dim: int = 512, heads: int = 8, layers: int = 12,
                 variant: str = "1.0", ffn: int = 2048):
        super().__init__()
        self.t1 = T1(joints, channels, dim, heads, layers, variant, ffn)
        self.out_dim = dim

    def forward(self, x: torch.Tensor) -> Features:
        if x.dim() != 5:
            raise ContractError(f"cascadeformer expects a skeleton batch (B, C, T, V, M), got {tuple(x.shape)}")
        tokens = self.t1(most_active_person(x))
        return Features(pooled=tokens.mean(1), frames=tokens)


class CascadeFormerEncoder(CascadeFormerT1Encoder):
    """Stage 2 encoder: ``mean_T CrossAttention(T1(x), T2(T1(x)))``."""

    def __init__(self, joints: int = 25, channels: int = 3, dim: int = 512, heads: int = 8, layers: int = 12,
                 variant: str = "1.0", ffn: int = 2048, dropout: float = 0.2):
        super().__init__(joints, channels, dim, heads, layers, variant, ffn)
        self.t2 = encoder_stack(dim, heads, layers, dropout, ffn)
        self.fusion = CrossAttentionFusion(dim, heads, dropout)

    def forward(self, x: torch.Tensor) -> Features:
        first = super().forward(x).frames
        fused = self.fusion(first, self.t2(first))
        return Features(pooled=fused.mean(1), frames=fused)


class CascadeFormerHead(nn.Module):
    """``LN → Dropout → Linear(d, d) → ReLU → Dropout → Linear(d, classes)`` (official MLP head)."""

    def __init__(self, in_dim: int, num_classes: int, dropout: float = 0.3):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(in_dim), nn.Dropout(dropout), nn.Linear(in_dim, in_dim), nn.ReLU(),
                                 nn.Dropout(dropout), nn.Linear(in_dim, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def mask_slots(x: torch.Tensor, ratio: float = 0.3, generator: torch.Generator | None = None):
    """Zero ``max(1, floor(ratio·T·J))`` random (frame, joint) slots per sample: returns (masked x, mask (B, T, J))."""
    b, t, j, _ = x.shape
    count = max(1, int(ratio * t * j))
    scores = torch.rand(b, t * j, generator=generator, device="cpu").to(x.device)
    chosen = scores.argsort(1)[:, :count]
    mask = torch.zeros(b, t * j, dtype=torch.bool, device=x.device).scatter(1, chosen, True).view(b, t, j)
    return x.masked_fill(mask.unsqueeze(-1), 0.0), mask


def masked_mse(prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Squared error summed over masked slots (all coordinates), divided by the number of masked elements."""
    weight = mask.unsqueeze(-1).expand_as(target).to(prediction.dtype)
    return ((prediction - target) ** 2 * weight).sum() / (weight.sum() + 1e-8)


class CascadeFormerPretrain(nn.Module):
    """Masked (frame, joint) reconstruction for T1; owns the reconstruction head ``Linear(d → J·D)``.

    Args:
        dim, joints, channels: must match the encoder (checked on the first batch).
        mask_ratio: share of (frame, joint) slots zeroed per sample (0.3 in the code).
        modality: the encoder to pretrain.
    """

    #: The registry name, used in error messages.
    objective_name = "cascadeformer_pretrain"

    def __init__(self, dim: int = 512, joints: int = 25, channels: int = 3, mask_ratio: float = 0.3,
                 modality: str = "skeleton"):
        super().__init__()
        self.reconstruction_head = nn.Linear(dim, joints * channels)
        self.mask_ratio, self.modality = mask_ratio, modality

    def forward(self, model, batch: Batch) -> tuple[torch.Tensor, ObjectiveOutput]:
        x = most_active_person(batch_tensor(batch, self.modality, self.objective_name))
        encoder = model.encoders[self.modality]
        t1 = getattr(encoder, "t1", None)
        if t1 is None:
            raise ContractError(f"cascadeformer_pretrain: encoder {self.modality!r} has no T1 (use cascadeformer_t1)")
        if self.reconstruction_head.in_features != t1.dim or self.reconstruction_head.out_features != t1.joints * t1.channels:
            raise ContractError(
                f"cascadeformer_pretrain: objective args (dim={self.reconstruction_head.in_features}, "
                f"joints*channels={self.reconstruction_head.out_features}) differ from the encoder "
                f"(dim={t1.dim}, joints*channels={t1.joints * t1.channels})")
        masked, mask = mask_slots(x, self.mask_ratio)
        reconstruction = self.reconstruction_head(t1(masked)).view_as(x)
        loss = masked_mse(reconstruction, x, mask)
        return loss, ObjectiveOutput(logits=None, logs={"masked_mse": loss.detach()})


HEAD = HeadSpec(name="cascadeformer_mlp", factory=CascadeFormerHead, doc="CascadeFormer's LN-MLP classification head.")
OBJECTIVE = ObjectiveSpec(name="cascadeformer_pretrain", factory=CascadeFormerPretrain,
                          doc="CascadeFormer stage 1: masked (frame, joint) reconstruction of T1.", batch=("<modality>",))

"""CascadeFormer's released files (no official-output fixture exists) convert to a forward-equal Fusion model.

The released checkpoints are four bare state dicts (``NTU_finetuned_{T1,T2,cross_attn,head}.pt``) of the
official classes. Their tensor names follow from the classes' attribute names (the paper's
description and the released inference script): ``BaseT1`` = ``joint_embedding`` (Linear J·D -> d),
``pos_embedding`` (1, 64, d), ``transformer_encoder`` (nn.TransformerEncoder), ``reconstruction_head``;
``BaseT2`` = ``encoder``; ``CrossAttentionWithFFN`` = ``cross_attention`` (MHA), ``norm1``, ``ffn`` (Linear,
ReLU, Dropout, Linear), ``norm2``; ``GaitRecognitionHeadMLP`` = ``net`` (LN, Dropout, Linear, ReLU, Dropout,
Linear). The reference below is assembled from torch modules with exactly those names and computes the
described forward pass (most active person, T1, T2, cross-attention, mean over frames, head).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from fusion.convert import convert_file
from fusion.recipe import load_recipe
from fusion.train.build import build_train_module, registry_for

ROOT = Path(__file__).resolve().parents[2]
D, HEADS, LAYERS, J, C, CLASSES = 32, 4, 2, 25, 3, 60


def _encoder(layers: int, dropout: float) -> nn.TransformerEncoder:
    return nn.TransformerEncoder(nn.TransformerEncoderLayer(D, HEADS, dropout=dropout, batch_first=True), layers,
                                 enable_nested_tensor=False)


class _T1(nn.Module):
    def __init__(self):
        super().__init__()
        self.joint_embedding = nn.Linear(J * C, D)
        self.pos_embedding = nn.Parameter(torch.randn(1, 64, D) * 0.02)
        self.transformer_encoder = _encoder(LAYERS, 0.1)
        self.reconstruction_head = nn.Linear(D, J * C)


class _T2(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = _encoder(LAYERS, 0.2)


class _Cross(nn.Module):
    def __init__(self):
        super().__init__()
        self.cross_attention = nn.MultiheadAttention(D, HEADS, dropout=0.2, batch_first=True)
        self.norm1, self.norm2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.ffn = nn.Sequential(nn.Linear(D, D), nn.ReLU(), nn.Dropout(0.2), nn.Linear(D, D))


class _Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(D), nn.Dropout(0.3), nn.Linear(D, D), nn.ReLU(), nn.Dropout(0.3),
                                 nn.Linear(D, CLASSES))


def _reference(parts: dict[str, nn.Module], x: torch.Tensor) -> torch.Tensor:
    """The released forward pass on (B, C, T, V, M)."""
    b, c, t, v, m = x.shape
    seq = x.permute(0, 2, 3, 1, 4)  # B, T, V, C, M
    person = seq.abs().sum(dim=(1, 2, 3)).argmax(-1)
    seq = torch.gather(seq, 4, person.view(b, 1, 1, 1, 1).expand(-1, t, v, c, 1)).squeeze(-1)
    t1 = parts["T1"]
    x1 = t1.transformer_encoder(t1.joint_embedding(seq.reshape(b, t, v * c)) + t1.pos_embedding[:, :t])
    x2 = parts["T2"].encoder(x1)
    cross = parts["cross_attn"]
    u = cross.norm1(x1 + cross.cross_attention(x1, x2, x2)[0])
    fused = cross.norm2(u + cross.ffn(u))
    return parts["head"].net(fused.mean(1))


def test_released_cascadeformer_files_convert_to_the_same_function(tmp_path):
    torch.manual_seed(0)
    parts = {"T1": _T1(), "T2": _T2(), "cross_attn": _Cross(), "head": _Head()}
    folder = tmp_path / "NTU_NONE"
    folder.mkdir()
    for name, module in parts.items():
        for p in module.parameters():  # away from the default init, so a wrong mapping cannot pass
            p.data.add_(torch.randn_like(p) * 0.05)
        torch.save(module.eval().state_dict(), folder / f"NTU_finetuned_{name}.pt")
    overrides = ["model.num_classes=60", f"model.encoders.skeleton.args={{joints: 25, channels: 3, dim: {D}, "
                 f"heads: {HEADS}, layers: {LAYERS}}}"]
    recipe_path = ROOT / "recipes/ntu60/cascadeformer_xsub.yaml"
    report = convert_file("cascadeformer", folder, recipe_path, tmp_path / "w.safetensors", overrides)
    assert report.unfilled == []  # the pre-training reconstruction head has no place in the fine-tuned model:
    assert sorted(report.unused) == ["NTU_finetuned_T1.pt:reconstruction_head.bias",
                                     "NTU_finetuned_T1.pt:reconstruction_head.weight"]
    recipe = load_recipe(recipe_path, [*overrides, f"model.init={{checkpoint: '{tmp_path / 'w.safetensors'}'}}"])
    model = build_train_module(recipe, registry_for(recipe), 60).model.eval()
    x = torch.randn(2, 3, 20, 25, 2)
    with torch.no_grad():
        ours = model({"skeleton": x, "mask": {"skeleton": torch.ones(2, dtype=torch.bool)}}).logits
        theirs = _reference(parts, x)
    assert (ours - theirs).abs().max() <= 1e-5 * theirs.abs().max()

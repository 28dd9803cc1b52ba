"""The official checkpoint formats: where each release keeps its tensors and how their names map to Fusion's.

Every table was checked against a checkpoint rebuilt in its original container and the official
model's outputs (``tests/checkpoints``). Encoder names go to ``model.encoders.skeleton``, classifier
names to ``model.head``, pre-training-only parts (projectors, queues, decoders) to ``objective``;
names the recipe's model lacks (a MoCo key encoder, a decoder when fine-tuning) are reported unused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from fusion.errors import DataError
from fusion.types import Conversion

from .common import RenameFormat, Rule, read_state, shift

ENC = "model.encoders.skeleton."


def _mamp_patch(name: str, w: torch.Tensor) -> torch.Tensor:
    """MAMP's Conv2d(3, D, (4, 1)) patch embedding as Fusion's Linear over a patch flattened frame-major."""
    return w[..., 0].permute(0, 2, 1).reshape(w.shape[0], -1) if w.dim() == 4 else w


def _queue(name: str, q: torch.Tensor) -> torch.Tensor:
    """MoCo keeps the queue as (dim, K); Fusion's FeatureQueue as (K, dim)."""
    return q.t().contiguous() if q.dim() == 2 else q


def _pointer(name: str, p: torch.Tensor) -> torch.Tensor:
    return p.reshape(())


#: CTR-GCN unit names inside a block (CTR-GCN, PSUMNet, Hyper-GCN's multi-scale TCN).
_CTRGCN_UNIT: tuple[Rule, ...] = (
    (r"\.gcn1\.", ".gcn."), (r"\.tcn1\.", ".tcn."),
    (r"\.down\.0\.", ".down.conv."), (r"\.down\.1\.", ".down.bn."),
    (r"\.branches\.3\.0\.", ".branches.3.conv."), (r"\.branches\.3\.1\.", ".branches.3.bn."),
)  # fmt: skip

CTRGCN = RenameFormat(
    at=((),), rules=(
        (r"^l(\d+)\.", shift(1, ENC + "blocks.")), *_CTRGCN_UNIT,
        (r"^data_bn\.", ENC + "data_bn.bn."), (r"^fc\.", "model.head.fc."),
    ))  # fmt: skip

PSUMNET = RenameFormat(
    at=((),), rules=(
        (r"^layers\.(\d+)\.", ENC + r"blocks.\1."), *_CTRGCN_UNIT,
        (r"^data_bn\.", ENC + "data_bn.bn."), (r"^fc\.", "model.head.fc."),
    ))  # fmt: skip

HYPERGCN = RenameFormat(
    at=((),), rules=(
        (r"^l(\d+)\.", shift(1, ENC + "blocks.")), *_CTRGCN_UNIT,
        (r"\.gcn\.to_V\.", ".gcn.to_features."), (r"\.gcn\.to_W\.", ".gcn.to_weights."),
        (r"\.gcn\.conv_d\.", ".gcn.conv."),
        (r"^(pos_embedding|data_bn\.|to_joint_embedding\.)", ENC + r"\1"), (r"^fc\.", "model.head.fc."),
    ))  # fmt: skip

#: PySKL / MMAction2 ``{'meta', 'state_dict', 'optimizer'(, 'message_hub', ...)}`` with ``backbone.*`` and
#: ``cls_head.fc_cls.*`` (MMAction2 1.x: ``cls_head.fc.*``).
_PYSKL_AT = (("state_dict",), ())
_PYSKL_COMMON: tuple[Rule, ...] = (
    (r"^backbone\.gcn\.(\d+)\.", ENC + r"blocks.\1."), (r"^backbone\.data_bn\.", ENC + "data_bn.bn."),
    (r"^cls_head\.fc_cls\.", "model.head.fc."), (r"^cls_head\.fc\.", "model.head.fc."),  # mmcv 1.x / MMAction2 1.x
)  # fmt: skip

STGCNPP = RenameFormat(
    at=_PYSKL_AT, rules=(
        *_PYSKL_COMMON,
        (r"\.gcn\.conv\.", ".gcn.conv.conv."), (r"\.gcn\.down\.0\.", ".gcn.down.conv."),
        (r"\.gcn\.down\.1\.", ".gcn.down.bn."), (r"\.tcn\.branches\.5\.(weight|bias)$", r".tcn.branches.5.conv.\1"),
        (r"\.tcn\.transform\.", ".tcn.fuse."), (r"\.tcn\.bn\.", ".tcn.fuse.3."),
    ))  # fmt: skip

#: PySKL's ST-GCN ('vanilla'): unit_gcn's BN is Yan's leading TCN BN; the graph A is saved in every block.
STGCN_PYSKL = RenameFormat(
    at=_PYSKL_AT, rules=(
        *_PYSKL_COMMON,
        (r"^(model\.encoders\.skeleton\.)blocks\.0\.gcn\.A$", r"\1A"),
        (r"^(model\.encoders\.skeleton\.)blocks\.(\d+)\.gcn\.PA$", r"\1edge_importance.\2"),
        (r"\.gcn\.bn\.", ".tcn.0."), (r"\.tcn\.conv\.", ".tcn.2.conv."), (r"\.tcn\.bn\.", ".tcn.2.bn."),
    ),
    drop=(r"^backbone\.gcn\.[1-9]\d*\.gcn\.A$",),  # nine more copies of block 0's graph
)  # fmt: skip

#: HiCLR / AimCLR-style MoCo around Yan's ST-GCN: pre-training (``encoder_q``, ``encoder_k``, queue) and
#: linear-evaluation (``encoder_q`` with ``fc`` = the classifier) state dicts.
HICLR = RenameFormat(
    at=((),), rules=(
        (r"^encoder_q\.edge_importance(\d+)$", lambda m: f"{ENC}edge_importance.{int(m[1]) - 1}"),
        (r"^encoder_q\.st_gcn_networks\.(\d+)\.", ENC + r"blocks.\1."),
        (r"\.tcn\.2\.", ".tcn.2.conv."), (r"\.tcn\.3\.", ".tcn.2.bn."),
        (r"\.residual\.0\.", ".residual.conv."), (r"\.residual\.1\.", ".residual.bn."),
        (r"^encoder_q\.A$", ENC + "A"), (r"^encoder_q\.data_bn\.", ENC + "data_bn.bn."),
        (r"^encoder_q\.fc\.(weight|bias)$", r"model.head.fc.\1"), (r"^encoder_q\.fc\.(\d)\.", r"objective.head.\1."),
        (r"^mask_param$", "objective.mask_param"), (r"^queue$", "objective.queue.bank"),
        (r"^queue_ptr$", "objective.queue.pointer"),
    ),
    drop=(r"^encoder_k\.",),  # the momentum encoder: Fusion makes its twin from the query encoder
    transforms={r"^objective\.queue\.bank$": _queue, r"^objective\.queue\.pointer$": _pointer},
)  # fmt: skip

#: HaLP's MoCo checkpoint ``{'epoch', 'state_dict', 'optimizer'}`` around the BiGRU encoder.
HALP = RenameFormat(
    at=(("state_dict",), ()), rules=(
        (r"^encoder_q\.encoder\.gru\.", ENC + "gru."), (r"^encoder_q\.input_norm\.", ENC + "norm."),
        (r"^encoder_q\.fc\.(\d)\.", r"objective.head.\1."), (r"^encoder_q\.fc\.(weight|bias)$", r"model.head.fc.\1"),
        (r"^queue$", "objective.queue.bank"), (r"^queue_ptr$", "objective.queue.pointer"),
        (r"^prototypes$", "objective.prototypes"),
    ),
    drop=(r"^encoder_k\.",),
    transforms={r"^objective\.queue\.bank$": _queue, r"^objective\.queue\.pointer$": _pointer},
)  # fmt: skip

#: MAMP (and STARS, which releases MAMP-format checkpoints): ``{'model', 'optimizer', 'epoch', 'scaler',
#: 'args'}`` from pre-training, fine-tuning or linear probing.
MAMP = RenameFormat(
    at=(("model",), ()), rules=(
        (r"^(temp_embed|pos_embed)$", ENC + r"\1"), (r"^joints_embed\.proj\.", ENC + "patch_embed."),
        (r"^(blocks\.|norm\.)", ENC + r"\1"),
        (r"^mask_token$", "objective.decoder.mask_token"),
        (r"^decoder_(temp_embed|pos_embed)$", r"objective.decoder.\1"),
        (r"^decoder_(embed|norm|pred)\.", r"objective.decoder.\1."), (r"^decoder_blocks\.", "objective.decoder.blocks."),
        # linear probe: head.fc = Sequential(BatchNorm1d(affine=False), Linear)
        (r"^head\.fc\.0\.", "model.head.norm."), (r"^head\.fc\.1\.", "model.head.fc."),
        # fine-tune: ActionHeadFinetune fc1 -> bn -> fc2
        (r"^head\.fc1\.", "model.head.net.1."), (r"^head\.bn\.", "model.head.net.2."), (r"^head\.fc2\.", "model.head.net.4."),
    ),
    transforms={r"\.patch_embed\.weight$": _mamp_patch},
)  # fmt: skip

#: CascadeFormer's T1 (``BaseT1``), T2 (``BaseT2``), cross-attention and head, one bare state dict each.
_CASCADE_PARTS: dict[str, tuple[Rule, ...]] = {
    "T1": ((r"^joint_embedding\.", ENC + "t1.embed."), (r"^pos_embedding$", ENC + "t1.pos_embedding"),
           (r"^transformer_encoder\.", ENC + "t1.encoder."), (r"^reconstruction_head\.", "objective.reconstruction_head.")),
    "T2": ((r"^encoder\.", ENC + "t2."),),
    "cross_attn": ((r"^cross_attention\.", ENC + "fusion.attention."), (r"^(norm1|norm2|ffn)\.", ENC + r"fusion.\1.")),
    "head": ((r"^net\.", "model.head.net."),),
}  # fmt: skip


def cascadeformer(source: str, target: Mapping[str, tuple[int, ...]]) -> Conversion:
    """A folder of the released ``*_finetuned_{T1,T2,cross_attn,head}.pt`` files, or one ``*_pretrained.pt`` (T1)."""
    path = Path(source)
    if path.is_dir():
        files = {part: sorted(path.glob(f"*_finetuned_{part}.pt")) for part in _CASCADE_PARTS}
        missing = [f"*_finetuned_{part}.pt" for part, found in files.items() if len(found) != 1]
        if missing:
            raise DataError(f"{path}: a CascadeFormer checkpoint folder holds exactly one each of "
                            f"*_finetuned_{{T1,T2,cross_attn,head}}.pt; missing or ambiguous: {', '.join(missing)}")
        parts = {part: str(found[0]) for part, found in files.items()}
    else:
        parts = {"T1": source}
    tensors: dict[str, tuple[str, torch.Tensor]] = {}
    unused: list[str] = []
    for part, file in parts.items():
        fmt = RenameFormat(at=((),), rules=_CASCADE_PARTS[part])
        for official, tensor in read_state(file, fmt.at).items():
            tensors[fmt.rename(official)] = (f"{Path(file).name}:{official}", tensor)
    return Conversion(tensors, unused)


#: Registry name -> (converter, one-line doc).
FORMATS: dict[str, tuple[Callable[[str, Mapping[str, tuple[int, ...]]], Conversion], str]] = {
    "ctrgcn": (CTRGCN, "CTR-GCN (Uason-Chen/CTR-GCN) bare state dict, any stream"),
    "hypergcn": (HYPERGCN, "Hyper-GCN (6UOOON9/Hyper-GCN) bare state dict, base or large, any stream"),
    "psumnet": (PSUMNET, "PSUMNet (skelemoa/psumnet) bare state dict, body / hand / leg stream"),
    "pyskl_stgcnpp": (STGCNPP, "PySKL / MMAction2 ST-GCN++ mmcv checkpoint (meta, state_dict, optimizer)"),
    "pyskl_stgcn": (STGCN_PYSKL, "PySKL / MMAction2 ST-GCN mmcv checkpoint; recipe layout ntu25_b"),
    "brl": (STGCNPP, "BRL (firework8/BRL) mmcv checkpoint: its ST-GCN++ backbone and MixAAHead classifier"),
    "mamp": (MAMP, "MAMP (maoyunyao/MAMP) pre-training, fine-tuning or linear-probe checkpoint"),
    "stars": (MAMP, "STARS released checkpoints (MAMP's format)"),
    "hiclr": (HICLR, "HiCLR (JHang2020/HiCLR) MoCo pre-training or linear-evaluation state dict"),
    "halp": (HALP, "HaLP (anshulbshah/HaLP) MoCo pre-training checkpoint (BiGRU encoder)"),
    "cascadeformer": (cascadeformer, "CascadeFormer released T1/T2/cross-attention/head files (a folder) or T1"),
}

"""FineTec (Shao, Shi, Liu; AAAI 2026): fine-grained action recognition under temporal corruption.

No code of FineTec is public. What follows the paper (abstract, project page) and what is proposed here:

1. **Context-aware completion** (paper: in-context learning with spatial and temporal MLPs, a prior
   sequence from a skeleton bank, five temporal masking strategies, ``L_ICL = MSE(S_gt, S_base) +
   MSE(S_context, prediction for S_mask)``). *Proposed*: a Skeleton-in-Context style layout: the prompt
   pair (bank sequence with the query's missing frames zeroed, the bank sequence) and the query pair
   (corrupted input, prior = bank mean) are stacked along time, each pair's input and target slot
   along channels; MLP-Mixer blocks mix joints (spatial MLP), frames (temporal MLP) and channels.
   The bank is a buffer of clean training sequences the ``finetec`` objective fills (the paper uses a
   Human3.6M bank, not available offline). The prompt is the bank sequence nearest to the query on its
   observed frames, by the same rule in training and at evaluation; the predictions are residuals on a
   linear interpolation of the observed frames (so the completed input looks alike at every missing
   ratio). Only missing frames are replaced (``replace_missing_only``).
2. **Spatial decomposition** (paper: five semantic regions split dynamic/static by motion variance,
   targeted perturbation gives S_dyna and S_stat). *Proposed*: score ``mean_{j∈r} Var_t ‖x_{t+1,j} −
   x_{t,j}‖``, top ``dynamic_regions`` are dynamic; Gaussian jitter of ``jitter · std(S_base)`` on the
   dynamic (S_dyna) or static (S_stat) joints, during training only unless ``perturb_at_eval``.
3. **Lagrangian acceleration** (paper: Euler–Lagrange estimation for each of S_base, S_dyna, S_stat).
   *Proposed, after FinePhys*: ``q̈ = M(q)⁻¹ f(q, q̇)`` with ``M = LLᵀ`` (the Cholesky factor L is predicted
   by an MLP, lower-triangular with a diagonal ``softplus + ε``, so M is SPD; solved by two triangular solves), ``f = τ − Cq̇ − g``
   predicted by an MLP, q̇ by forward and by backward finite differences, the two accelerations
   averaged (bidirectional update).
4. **Fusion and head** (paper: fused positions and accelerations fed jointly to a GCN head).
   *Proposed*: mean over the three sequences, positions and accelerations concatenated along channels
   into an ST-GCN++ (``fusion_plugins.skeleton.stgcnpp``) on the same layout.

Switching ``completion``, ``decomposition`` and ``physics`` off leaves the bare GCN head, the
baseline FineTec is compared with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fusion.data.corruption import LEVELS, MASK_TYPES, frame_mask
from fusion.errors import ContractError, RecipeError
from fusion.types import AuxField, Batch, Features, ObjectiveOutput, ObjectiveSpec, batch_field, batch_tensor
from fusion_plugins.skeleton.layouts import SkeletonLayout, get_layout
from fusion_plugins.skeleton.stgcnpp import stgcnpp

#: Five regions for COCO-17, inferred (the paper does not list them), covering all 17 joints: head, arms with
#: shoulders, legs with hips.
COCO_REGIONS = {"head": (0, 1, 2, 3, 4), "left_arm": (5, 7, 9), "right_arm": (6, 8, 10),
                "left_leg": (11, 13, 15), "right_leg": (12, 14, 16)}


def semantic_regions(layout: SkeletonLayout, regions: Mapping[str, Sequence] | None = None) -> list[np.ndarray]:
    """Five joint sets that partition the layout: given, the COCO table, or trunk (head + torso) + limbs."""
    if regions is None:
        if layout.name == "coco17":
            regions = COCO_REGIONS
        else:
            parts = dict(layout.parts)
            trunk = tuple(parts.pop("head", ())) + tuple(parts.pop("torso", ()))
            regions = {"trunk": trunk, **parts}
    sets = [np.array(sorted(layout.index(j) for j in joints)) for joints in regions.values()]
    flat = np.concatenate(sets)
    if len(flat) != layout.num_joints or len(set(flat.tolist())) != layout.num_joints:
        raise RecipeError(f"finetec: regions {list(regions)} must partition the {layout.num_joints} joints of "
                          f"{layout.name!r} (each joint in exactly one region)")
    return sets


def missing_frames(x: torch.Tensor) -> torch.Tensor:
    """``(P, T, V, C)`` → ``(P, T)`` True where a frame is all zeros (a dropped frame)."""
    return ~(x != 0).flatten(2).any(-1)


def interpolate_missing(seq: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
    """Fill missing frames of ``(P, T, V, C)`` linearly between the nearest observed frames (held at the ends).

    The completion predicts a residual on top of this, so at initialisation it already returns a plausible
    sequence and train/test statistics of the head input agree whatever the missing ratio. Persons with no
    observed frame stay as they are.
    """
    p, t = missing.shape
    index = torch.arange(t, device=seq.device).expand(p, t)
    observed = ~missing
    before = torch.where(observed, index, -1).cummax(1).values
    after = (t - 1) - torch.where(observed.flip(1), index, -1).cummax(1).values.flip(1)  # t when none after
    before_ok, after_ok = before >= 0, after < t
    before = torch.where(before_ok, before, after).clamp(0, t - 1)
    after = torch.where(after_ok, after, before).clamp(0, t - 1)
    span = (after - before).clamp(min=1).to(seq.dtype)
    weight = ((index - before).to(seq.dtype) / span).clamp(0, 1)[..., None, None]
    gather = lambda i: seq.gather(1, i[..., None, None].expand_as(seq))  # noqa: E731
    filled = gather(before) * (1 - weight) + gather(after) * weight
    return torch.where(missing[..., None, None], filled, seq)


# ------------------------------------------------------------------------------------- completion


class MixerBlock(nn.Module):
    """Spatial (over joints), temporal (over frames) and channel MLPs, each pre-norm with a residual."""

    def __init__(self, joints: int, frames: int, width: int, expansion: int = 2):
        super().__init__()
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(3))
        self.spatial = nn.Sequential(nn.Linear(joints, joints * expansion), nn.GELU(), nn.Linear(joints * expansion, joints))
        self.temporal = nn.Sequential(nn.Linear(frames, frames * expansion), nn.GELU(), nn.Linear(frames * expansion, frames))
        self.channel = nn.Sequential(nn.Linear(width, width * expansion), nn.GELU(), nn.Linear(width * expansion, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (P, T, V, W)
        x = x + self.spatial(self.norms[0](x).transpose(2, 3)).transpose(2, 3)
        x = x + self.temporal(self.norms[1](x).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return x + self.channel(self.norms[2](x))


class ContextCompletion(nn.Module):
    """In-context completion: ``(prompt input, prompt target, query input, query target slot)`` → predictions."""

    def __init__(self, joints: int, frames: int, channels: int, width: int = 64, blocks: int = 2):
        super().__init__()
        self.embed = nn.Linear(2 * channels, width)
        self.time = nn.Parameter(torch.zeros(1, 2 * frames, 1, width))
        self.blocks = nn.Sequential(*(MixerBlock(joints, 2 * frames, width) for _ in range(blocks)))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, channels)

    def forward(self, prompt_in, prompt_target, query_in, query_target, prompt_base=None, query_base=None):
        """Predictions are residuals on ``*_base`` (default: the target slots)."""
        pairs = torch.cat([torch.cat([prompt_in, prompt_target], -1), torch.cat([query_in, query_target], -1)], dim=1)
        h = self.blocks(self.embed(pairs) + self.time)
        base = torch.cat([prompt_target if prompt_base is None else prompt_base,
                          query_target if query_base is None else query_base], dim=1)
        out = self.out(self.norm(h)) + base
        t = prompt_in.shape[1]
        return out[:, :t], out[:, t:]


# ------------------------------------------------------------------------------------- physics


class LagrangianAcceleration(nn.Module):
    """``q̈ = M(q)⁻¹ f(q, q̇)``, M symmetric positive-definite through a Cholesky factor, bidirectional q̇."""

    def __init__(self, dof: int, width: int = 64, eps: float = 0.1):
        super().__init__()
        self.dof, self.eps = dof, eps
        rows, cols = torch.tril_indices(dof, dof)
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        self.mass = nn.Sequential(nn.Linear(dof, width), nn.Tanh(), nn.Linear(width, rows.numel()))
        self.force = nn.Sequential(nn.Linear(2 * dof, width), nn.Tanh(), nn.Linear(width, dof))

    def cholesky_factor(self, q: torch.Tensor) -> torch.Tensor:
        """(..., D) → (..., D, D) lower-triangular L, diagonal ``softplus + eps``, off-diagonal in (−1/D, 1/D): M = LLᵀ is SPD."""
        entries = self.mass(q)
        # off-diagonal entries bounded by 1/D keep M well conditioned (its inverse cannot explode)
        entries = torch.where(self.rows == self.cols, F.softplus(entries) + self.eps, torch.tanh(entries) / self.dof)
        lower = q.new_zeros(*q.shape[:-1], self.dof, self.dof)
        lower[..., self.rows, self.cols] = entries
        return lower

    def mass_matrix(self, q: torch.Tensor) -> torch.Tensor:
        """(..., D) → (..., D, D) the symmetric positive-definite mass matrix ``M = LLᵀ``."""
        lower = self.cholesky_factor(q)
        return lower @ lower.transpose(-1, -2)

    @staticmethod
    def solve(lower: torch.Tensor, force: torch.Tensor) -> torch.Tensor:
        """``M⁻¹ f`` from the Cholesky factor L of M (two triangular solves)."""
        return torch.cholesky_solve(force.unsqueeze(-1), lower).squeeze(-1)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        """(P, T, D) positions → (P, T, D) accelerations."""
        forward_velocity = torch.cat([q[:, 1:] - q[:, :-1], torch.zeros_like(q[:, :1])], 1)
        backward_velocity = torch.cat([torch.zeros_like(q[:, :1]), q[:, 1:] - q[:, :-1]], 1)
        lower = self.cholesky_factor(q)
        accelerations = [self.solve(lower, self.force(torch.cat([q, v], -1))) for v in (forward_velocity, backward_velocity)]
        return (accelerations[0] + accelerations[1]) / 2


# ------------------------------------------------------------------------------------- model


class FineTec(nn.Module):
    """FineTec encoder: ``(B, C, T, V, M)`` with dropped (all-zero) frames → :class:`Features`.

    Args:
        layout: skeleton layout (``coco17`` for Gym; SynthAct is ``ntu25``).
        in_channels: input channels C; ``coords`` of them are positions (pose2d: 2 of x, y, score).
        frames: T (the completion MLPs mix a fixed number of frames).
        num_persons: M.
        scale: positions are divided by it before completion and physics (metres: 1; pixels: ~50).
        width, blocks: completion mixer width and depth.
        bank_size: clean sequences kept for prompts and the prior.
        regions: ``{name: [joints]}`` five regions (default per layout), ``dynamic_regions`` of them dynamic.
        jitter: perturbation std relative to each sequence's std; ``perturb_at_eval`` keeps it at test.
        physics_width: width of the mass and force MLPs.
        head: arguments of the ST-GCN++ head (``config``, ``channels``, ``strides``).
        completion, decomposition, physics: switch the stages (all off = the bare GCN head).
        replace_missing_only: keep observed frames as they are.
    """

    def __init__(self, layout: str = "coco17", in_channels: int = 3, coords: int | None = None, frames: int = 32,
                 num_persons: int = 1, scale: float = 1.0, width: int = 64, blocks: int = 2, bank_size: int = 64,
                 regions: Mapping[str, Sequence] | None = None, dynamic_regions: int = 2, jitter: float = 0.05,
                 perturb_at_eval: bool = False, physics_width: int = 64, head: Mapping | None = None,
                 completion: bool = True, decomposition: bool = True, physics: bool = True,
                 replace_missing_only: bool = True):
        super().__init__()
        self.layout = get_layout(layout)
        v = self.layout.num_joints
        self.in_channels, self.coords = in_channels, coords or in_channels
        self.frames, self.num_persons, self.scale = frames, num_persons, float(scale)
        self.use_completion, self.use_decomposition, self.use_physics = completion, decomposition, physics
        self.replace_missing_only, self.perturb_at_eval, self.jitter = replace_missing_only, perturb_at_eval, jitter
        self.regions = semantic_regions(self.layout, regions)
        if not 0 < dynamic_regions < len(self.regions):
            raise RecipeError(f"finetec: dynamic_regions must be within 1..{len(self.regions) - 1}")
        self.dynamic_regions = dynamic_regions
        membership = torch.zeros(len(self.regions), v)
        for r, joints in enumerate(self.regions):
            membership[r, torch.as_tensor(joints)] = 1.0
        self.register_buffer("membership", membership, persistent=False)
        self.completion = ContextCompletion(v, frames, self.coords, width, blocks) if completion else None
        self.register_buffer("bank", torch.zeros(bank_size, frames, v, self.coords))
        self.register_buffer("bank_filled", torch.zeros((), dtype=torch.long))
        self.physics = LagrangianAcceleration(v * self.coords, physics_width) if physics else None
        head_args = {"config": "small", **(head or {})}
        self.head = stgcnpp(layout=self.layout.name, in_channels=self.coords * (2 if physics else 1), **head_args)
        self.out_dim = self.head.out_dim

    # -- bank ----------------------------------------------------------------------------------

    @torch.no_grad()
    def remember(self, x: torch.Tensor) -> None:
        """Add the clean, complete sequences of a training batch ``(B, C, T, V, M)`` to the bank (FIFO)."""
        seq = self.sequences(x)
        seq = seq[~missing_frames(seq).any(1)]
        if seq.shape[0] == 0:
            return
        size = self.bank.shape[0]
        seq = seq[-size:]
        self.bank.copy_(torch.cat([self.bank[seq.shape[0]:], seq.to(self.bank.dtype)], 0))
        self.bank_filled.add_(seq.shape[0]).clamp_(max=size)

    def prior(self) -> torch.Tensor:
        filled = int(self.bank_filled)
        return self.bank[-filled:].mean(0) if filled else self.bank[0]

    # -- stages ----------------------------------------------------------------------------------

    def sequences(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, T, V, M) → (B·M, T, V, coords) scaled positions."""
        if x.dim() != 5 or x.shape[1] != self.in_channels or x.shape[3] != self.layout.num_joints or x.shape[2] != self.frames:
            raise ContractError(
                f"finetec expects (B, {self.in_channels}, {self.frames}, {self.layout.num_joints}, M) for layout "
                f"{self.layout.name!r}, got {tuple(x.shape)} (the completion MLPs need exactly `frames` frames)")
        return x[:, : self.coords].permute(0, 4, 2, 3, 1).flatten(0, 1) / self.scale

    def context(self, seq: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
        """The prompt: for each sequence the bank entry closest to it on its observed frames.

        The same rule in training and at evaluation (a random prompt in training and the bank mean at test
        would give the completion inputs it never saw); the objective adds a batch to the bank only after
        the forward pass, so a training sample never finds itself.
        """
        filled = int(self.bank_filled)
        if filled == 0:
            return self.prior().expand_as(seq)
        bank = self.bank[-filled:]
        observed = (~missing).to(seq.dtype)  # P, T
        diff = (seq[:, None] - bank[None]).pow(2).sum((-1, -2))  # P, K, T
        distance = (diff * observed[:, None]).sum(-1) / observed.sum(-1, keepdim=True).clamp(min=1)
        return bank[distance.argmin(1)]

    def complete(self, seq: torch.Tensor, missing: torch.Tensor) -> tuple[torch.Tensor, dict]:
        prior = self.prior().expand_as(seq)
        context = self.context(seq, missing)
        hole = missing[..., None, None]
        prompt_in = context.masked_fill(hole, 0.0)
        prompt_prediction, prediction = self.completion(
            prompt_in, context, seq, prior, prompt_base=interpolate_missing(prompt_in, missing),
            query_base=interpolate_missing(seq, missing))
        completed = torch.where(hole, prediction, seq) if self.replace_missing_only else prediction
        return completed, {PROMPT_PREDICTION.name: prompt_prediction, PROMPT_TARGET.name: context}

    def motion_scores(self, seq: torch.Tensor) -> torch.Tensor:
        """(P, T, V, C) → (P, regions): mean over each region's joints of the variance of joint speed."""
        speed = (seq[:, 1:] - seq[:, :-1]).norm(dim=-1)  # P, T-1, V
        variance = speed.var(1, unbiased=False)  # P, V
        return variance @ self.membership.T / self.membership.sum(1)

    def perturb(self, seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(S_dyna, S_stat, dynamic joint mask (P, V))."""
        top = self.motion_scores(seq).topk(self.dynamic_regions, dim=1).indices
        dynamic_regions = torch.zeros(seq.shape[0], len(self.regions), device=seq.device).scatter(1, top, 1.0)
        dynamic = (dynamic_regions @ self.membership) > 0  # P, V
        if not (self.training or self.perturb_at_eval) or self.jitter == 0:
            return seq, seq, dynamic
        sigma = self.jitter * seq.flatten(1).std(1).view(-1, 1, 1, 1)
        noise = torch.randn_like(seq) * sigma
        d = dynamic[:, None, :, None].to(seq.dtype)
        return seq + noise * d, seq + noise * (1 - d), dynamic

    def forward(self, x: torch.Tensor) -> Features:
        b, m = x.shape[0], x.shape[4]
        seq = self.sequences(x)
        missing = missing_frames(seq)
        present = ~missing.all(1)  # persons that appear at all
        aux: dict = {MISSING.name: missing, PRESENT.name: present}
        if self.completion is not None:
            completed, extra = self.complete(seq, missing)
            seq = torch.where(present[:, None, None, None], completed, seq)
            aux.update(extra)
            aux[COMPLETION.name] = seq
        variants = list(self.perturb(seq)[:2]) if self.use_decomposition else []
        sequences = [seq, *variants]
        position = torch.stack(sequences).mean(0)
        channels = [position]
        if self.physics is not None:
            p, t, v, c = seq.shape
            acceleration = torch.stack([self.physics(s.reshape(p, t, v * c)) for s in sequences]).mean(0)
            channels.append(acceleration.view(p, t, v, c))
        fused = torch.cat(channels, -1) * present[:, None, None, None]
        fused = fused.view(b, m, *fused.shape[1:]).permute(0, 4, 2, 3, 1)  # B, C', T, V, M
        features = self.head(fused.contiguous())
        features.aux.update(aux)
        return features


# ------------------------------------------------------------------------------------- aux outputs

_ENCODER = "encoder 'finetec'"
#: Sequences are one per (sample, person) slot, P = B·M, in the encoder's (P, T, V, C) layout.
MISSING: AuxField[torch.Tensor] = AuxField("missing", "(P, T) bool, True where a frame is all zeros", _ENCODER)
PRESENT: AuxField[torch.Tensor] = AuxField("present", "(P,) bool, persons with at least one frame", _ENCODER)
COMPLETION: AuxField[torch.Tensor] = AuxField("completion", "(P, T, V, C) completed sequences", _ENCODER, "completion: true")
PROMPT_PREDICTION: AuxField[torch.Tensor] = AuxField(
    "prompt_prediction", "(P, T, V, C) the completion's prediction of the prompt", _ENCODER, "completion: true")
PROMPT_TARGET: AuxField[torch.Tensor] = AuxField(
    "prompt_target", "(P, T, V, C) the prompt (bank context) it should predict", _ENCODER, "completion: true")
AUX = (MISSING, PRESENT, COMPLETION, PROMPT_PREDICTION, PROMPT_TARGET)

# ------------------------------------------------------------------------------------- objective


class FineTecObjective(nn.Module):
    """Train under random temporal corruption: ``CE + icl_weight · L_ICL``.

    Every training sample loses frames by one of ``types`` at one of ``ratios`` (default: the five
    masks at the mild/moderate/severe ratios; ``clean_share`` of samples stay whole); the clean batch
    fills the encoder's bank. ``L_ICL = MSE(S_gt, S_base) + MSE(S_context, prompt prediction)`` over
    the persons present. At evaluation the model sees whatever ``eval.corruption`` gives it.
    """

    #: The registry name, used in error messages.
    objective_name = "finetec"

    def __init__(self, modality: str = "skeleton", types: Sequence[str] = MASK_TYPES,
                 ratios: Sequence[float] = tuple(LEVELS.values()), clean_share: float = 0.0, icl_weight: float = 1.0,
                 label_smoothing: float = 0.0):
        super().__init__()
        unknown = set(types) - set(MASK_TYPES)
        if unknown:
            raise RecipeError(f"objective finetec: unknown mask types {sorted(unknown)}; known: {', '.join(MASK_TYPES)}")
        self.modality, self.types, self.ratios = modality, tuple(types), tuple(float(r) for r in ratios)
        self.clean_share, self.icl_weight, self.label_smoothing = clean_share, icl_weight, label_smoothing

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """Drop frames of each sample of ``(B, C, T, V, M)`` (same frames for all persons of a sample)."""
        rng = np.random.default_rng(int(torch.randint(2**31 - 1, (1,)).item()))
        b, t = x.shape[0], x.shape[2]
        masks = np.zeros((b, t), dtype=bool)
        for i in range(b):
            if rng.random() >= self.clean_share:
                masks[i] = frame_mask(self.types[rng.integers(len(self.types))], t,
                                      self.ratios[rng.integers(len(self.ratios))], rng)
        keep = torch.as_tensor(~masks, device=x.device)[:, None, :, None, None]
        return x * keep.to(x.dtype)

    def forward(self, model, batch: Batch) -> tuple[torch.Tensor, ObjectiveOutput]:
        clean = batch_tensor(batch, self.modality, self.objective_name)
        encoder = model.encoders[self.modality]
        if not isinstance(encoder, FineTec):
            raise ContractError(f"objective finetec needs the finetec encoder on {self.modality!r}")
        if self.training:
            batch = {**batch, self.modality: self.corrupt(clean)}
        out = model(batch)
        if self.training:
            encoder.remember(clean)  # after the forward pass: a sample never is its own prompt
        loss = F.cross_entropy(out.logits.float(), batch_field(batch, "label", self.objective_name), label_smoothing=self.label_smoothing)
        logs = {"ce": loss.detach()}
        aux, where = out.features[self.modality].aux, f"{self.modality} encoder"
        completion = COMPLETION.get(aux)  # None with completion: false (then there is no L_ICL)
        if self.training and completion is not None and self.icl_weight:
            present = PRESENT.read(aux, self.objective_name, where)
            target = encoder.sequences(clean)
            icl = F.mse_loss(completion[present], target[present]) + F.mse_loss(
                PROMPT_PREDICTION.read(aux, self.objective_name, where)[present], PROMPT_TARGET.read(aux, self.objective_name, where)[present])
            loss = loss + self.icl_weight * icl
            logs["icl"] = icl.detach()
        return loss, ObjectiveOutput(logits=out.logits, logs=logs)


OBJECTIVE = ObjectiveSpec(name="finetec", factory=FineTecObjective,
                          doc="FineTec: CE under random temporal corruption + in-context completion loss.",
                          batch=("label", "<modality>"), aux=(PRESENT, COMPLETION, PROMPT_PREDICTION, PROMPT_TARGET))

"""BRL (Liu et al., balanced representation learning for long-tailed skeleton action recognition).

Pieces, each usable alone:

- :func:`long_tailed_counts` / dataset ``long_tailed``: the exponential profile
  ``n_c = floor(n_max · (1/ρ)^{c/(C−1)})`` in natural class order; each class keeps its first ``n_c``
  samples after a per-class shuffle with a fixed seed (reproducible; the test split stays balanced).
- STAE, spatial half (objective ``brl``): *rebalanced partial mixup*: ``floor(ratio·B)`` samples get the
  lower body (``lower_body``) of another random sample, the upper body stays; the label weight λ follows
  the 3× rule: 0 if ``n_{y_i} > 3 n_{y_j}`` (all weight to the rarer donor class), 1 if
  ``n_{y_j} > 3 n_{y_i}``, else 0.64 (the upper-body share 16/25).
- STAE, temporal half: transform ``brl.temporal_reverse`` (reverse the valid frames with p = 0.5); it is
  not enabled in the released configs, the paper describes it.
- DAA: detached action-aware schedule: plain CE until epoch ``step_epoch − 1`` (0-based epochs
  ``(e+1)//step_epoch == 0``), then CE with class-balanced weights that use a per-class β,
  ``β_c = 0.99 + 0.0099 (n_c − n_min)/(n_max − n_min)``, ``w_c ∝ (1 − β_c)/(1 − β_c^{n_c})``, ``Σ w = C``.
- Skip-bone modality (transform ``brl.stream``, stream ``k``): joint minus its grandparent toward the
  centre; joints hanging directly on the centre (and the centre) give 0, as pyskl's ``JointToKB``.

Official-code behaviours behind options (off by default, the paper's intent otherwise):
``alternating_weights`` (stage-2 weights flip to near-uniform every other epoch, a side effect of
updating β in place), ``official_mix`` (one λ for the whole batch from the last mixed pair, and the
mixed joints concatenated ``[U_i; L_j]`` instead of put back in place).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fusion.construct import BuildContext
from fusion.data.wrapped import IndexedView, build_wrapped, dataset_labels
from fusion.errors import RecipeError
from fusion.types import Batch, DatasetSpec, ObjectiveOutput, ObjectiveSpec, TransformSpec, batch_field, batch_tensor
from fusion_plugins.skeleton.layouts import SkeletonLayout, get_layout
from fusion_plugins.skeleton.streams import bone, motion
from fusion_plugins.skeleton.transforms import SkeletonTransform, count_valid_frames

# ----------------------------------------------------------------------------------------- long tail


def long_tailed_counts(num_classes: int, n_max: int, rho: float) -> np.ndarray:
    """``floor(n_max · (1/ρ)^{c/(C−1)})`` for c = 0..C−1 (BRL's ``get_num_class_list``)."""
    if num_classes < 2 or rho < 1:
        raise RecipeError(f"long-tailed counts need >= 2 classes and rho >= 1, got {num_classes} and {rho}")
    c = np.arange(num_classes)
    return np.floor(n_max * (1.0 / rho) ** (c / (num_classes - 1)) + 1e-9).astype(np.int64)


def ordered_counts(num_classes: int, n_max: int, rho: float, class_order: str | Sequence[int] | None = None) -> np.ndarray:
    """Per-class training counts: the profile handed out along ``class_order`` (most to least frequent)."""
    profile = long_tailed_counts(num_classes, n_max, rho)
    order = np.arange(num_classes)
    if class_order is not None:
        order = order[::-1] if class_order == "reversed" else np.asarray(class_order)
        if isinstance(class_order, str) and class_order != "reversed" or sorted(order.tolist()) != list(range(num_classes)):
            raise RecipeError(f"long_tailed: class_order must be 'reversed' or a permutation of 0..{num_classes - 1}, "
                              f"got {class_order!r}")
    counts = np.empty_like(profile)
    counts[order] = profile
    return counts


def long_tailed_indices(labels: np.ndarray, counts: Sequence[int], seed: int = 0) -> np.ndarray:
    """Indices keeping the first ``counts[c]`` samples of each class after a seeded per-class shuffle."""
    rng = np.random.RandomState(seed)
    chosen = []
    for c, n in enumerate(counts):
        members = np.flatnonzero(labels == c)
        if len(members) < n:
            raise RecipeError(f"long_tailed: class {c} has {len(members)} samples, the profile asks for {n}")
        chosen.append(members[rng.permutation(len(members))[:n]])
    return np.sort(np.concatenate(chosen))


class LongTailed(IndexedView):
    """A registered dataset's training split cut to the exponential profile; other splits unchanged.

    Args:
        split: passed to the wrapped dataset.
        dataset: ``{name, args}`` of the wrapped dataset.
        rho: imbalance ratio (largest / smallest class).
        n_max: size of class 0 (default: the smallest class size, so every class can be served).
        seed: per-class shuffle seed (0, as BRL's generator).
        splits: which splits are cut (default ``["train"]``; test sets stay balanced).
        class_order: classes from most to least frequent (default: natural order, as BRL); ``"reversed"``
            or a list of class indices.
    """

    def __init__(self, split: str = "train", dataset: dict | None = None, rho: float = 100.0, n_max: int | None = None,
                 seed: int = 0, splits: Sequence[str] = ("train",), class_order: str | Sequence[int] | None = None,
                 ctx: BuildContext | None = None):
        base = build_wrapped("long_tailed", dataset, split, ctx)
        num_classes = int(base.num_classes)
        labels = dataset_labels(base)
        if split in splits:
            sizes = np.bincount(labels, minlength=num_classes)
            self.counts = ordered_counts(num_classes, int(n_max or sizes.min()), rho, class_order)
            indices = long_tailed_indices(labels, self.counts, seed)
        else:
            indices = np.arange(len(labels))
            self.counts = np.bincount(labels, minlength=num_classes)
        super().__init__(base, indices)
        self.num_classes, self.labels = num_classes, labels[indices]
        if self.class_names is None:
            self.class_names = [str(i) for i in range(num_classes)]


# ----------------------------------------------------------------------------------------- modalities


def skip_parents(layout: SkeletonLayout) -> np.ndarray:
    """Each joint's grandparent in the bone-stream tree; the centre and its children point to themselves."""
    parents = layout.stream_parents()
    root = layout.centre
    grand = parents[parents]
    index = np.arange(layout.num_joints)
    return np.where((parents == root) | (index == root), index, grand)


class BRLStream(SkeletonTransform):
    """One or more of BRL's six modalities: ``j, b, k, jm, bm, km`` (joint, bone, skip, and their motions)."""

    name = "brl.stream"
    KINDS = ("j", "b", "k", "jm", "bm", "km")

    def __init__(self, streams: Sequence[str] = ("j",), layout: str = "ntu25_b", key: str = "skeleton",
                 score: bool | None = None):
        super().__init__(key, score)
        streams = [streams] if isinstance(streams, str) else list(streams)
        unknown = [s for s in streams if s not in self.KINDS]
        if unknown or not streams:
            raise RecipeError(f"{self.name}: unknown stream(s) {unknown or streams}; known: {', '.join(self.KINDS)}")
        self.streams = streams
        self.layout = get_layout(layout)
        self.parents = {"j": None, "b": self.layout.stream_parents(), "k": skip_parents(self.layout)}

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self.check_joints(x, self.layout)
        parts = []
        for s in self.streams:
            base = x.copy() if s[0] == "j" else bone(x, self.parents[s[0]], self.score)
            parts.append(motion(base, score=self.score) if s.endswith("m") else base)
        return np.concatenate(parts, axis=-1).astype(np.float32)


class TemporalReverse(SkeletonTransform):
    """Temporal Reverse Perception: with probability ``p`` play the valid frames backwards (padding stays last)."""

    name = "brl.temporal_reverse"

    def __init__(self, p: float = 0.5, key: str = "skeleton"):
        super().__init__(key, score=False)
        self.p = float(p)

    def apply(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() >= self.p:
            return x
        valid = count_valid_frames(x)
        out = x.copy()
        out[:, :valid] = x[:, :valid][:, ::-1]
        return out


# ----------------------------------------------------------------------------------------- STAE mixup


def lower_body(layout: SkeletonLayout) -> np.ndarray:
    """Leg joints plus the joint(s) the hips hang on (NTU: spine-base + legs = 9 joints; COCO: hips + legs)."""
    legs = [j for name, joints in layout.parts.items() if name.endswith("leg") for j in joints]
    parents = layout.stream_parents()
    anchors = {int(parents[j]) for j in legs} - set(legs)
    return np.array(sorted(set(legs) | anchors))


def mix_weight(n_i: int, n_j: int, share: float = 0.64, factor: float = 3.0) -> float:
    """The 3× rule: weight λ of the upper-body label y_i (1 − λ goes to the donor label y_j)."""
    if n_i > factor * n_j:
        return 0.0
    if n_j > factor * n_i:
        return 1.0
    return share


def partial_mixup(x: torch.Tensor, label: torch.Tensor, counts: torch.Tensor, lower: torch.Tensor, ratio: float,
                  share: float = 0.64, official: bool = False, generator: torch.Generator | None = None):
    """Mix ``floor(ratio·B)`` samples: upper body from i, lower body from a random j ≠ i.

    ``x``: (B, C, T, V, M). Returns ``(x_mixed, y_a, y_b, lam (B,))``; unmixed samples have
    ``y_a = y_b`` and λ = 1. ``official``: one λ for the batch (from the last pair) and the mixed joints
    concatenated as ``[U_i; L_j]`` along V, as the released code does.
    """
    b, v = x.shape[0], x.shape[3]
    y_a, y_b = label.clone(), label.clone()
    lam = torch.ones(b, device=x.device)
    chosen = int(np.floor(ratio * b))
    if chosen == 0 or b < 2:
        return x, y_a, y_b, lam
    order = torch.randperm(b, generator=generator)[:chosen].to(x.device)
    donors = (order + torch.randint(1, b, (chosen,), generator=generator).to(x.device)) % b  # j != i
    out = x.clone()
    if official:
        upper = torch.tensor([j for j in range(v) if j not in set(lower.tolist())], device=x.device)
        out[order] = torch.cat([x[order][:, :, :, upper], x[donors][:, :, :, lower]], dim=3)
    else:
        out[order.unsqueeze(1), :, :, lower.unsqueeze(0)] = x[donors.unsqueeze(1), :, :, lower.unsqueeze(0)]
    y_b[order] = label[donors]
    n_i, n_j = counts[label[order]], counts[label[donors]]
    pair_lam = torch.where(n_i > 3 * n_j, 0.0, torch.where(n_j > 3 * n_i, 1.0, share)).to(lam.dtype)
    lam[order] = pair_lam
    if official:
        lam[:] = pair_lam[-1]
    return out, y_a, y_b, lam


# ----------------------------------------------------------------------------------------- DAA weights


def action_aware_weights(counts: Sequence[int]) -> np.ndarray:
    """Class-balanced weights with per-class β in [0.99, 0.9999]; they sum to C."""
    n = np.asarray(counts, dtype=np.float64)
    spread = n.max() - n.min()
    beta = 0.99 + 0.0099 * ((n - n.min()) / spread if spread > 0 else np.zeros_like(n))
    return _class_balanced(beta, n)


def _class_balanced(beta: np.ndarray, n: np.ndarray) -> np.ndarray:
    w = (1.0 - beta) / (1.0 - np.power(beta, n))
    return w / w.sum() * len(n)


def stage_weights(counts: Sequence[int], epoch: int, step_epoch: int = 20, alternating: bool = False) -> np.ndarray:
    """Class weights at 0-based ``epoch``: ones in stage 1, action-aware in stage 2 (see module doc)."""
    c = len(counts)
    if (epoch + 1) // step_epoch == 0:
        return np.ones(c)
    if alternating and (epoch - step_epoch + 1) % 2 == 1:
        n = np.asarray(counts, dtype=np.float64)
        spread = n.max() - n.min()
        beta = 0.99 + 0.0099 * ((n - n.min()) / spread if spread > 0 else np.zeros_like(n))
        return _class_balanced(1.0 - beta, n)
    return action_aware_weights(counts)


class BRLObjective(nn.Module):
    """BRL training loss: rebalanced partial mixup + detached action-aware weighted CE.

    Args:
        counts: training samples per class; or give ``num_classes``, ``n_max``, ``rho`` and ``class_order``
            (the profile, as the ``long_tailed`` dataset builds it).
        layout: skeleton layout (for the lower-body joints).
        mix_ratio: share of each batch that is mixed (1/16).
        share: λ of a balanced pair (0.64 = 16/25).
        step_epoch: first epoch of stage 2 is ``step_epoch − 1`` (0-based; 20 for NTU).
        alternating_weights, official_mix: the released code's behaviours (see module doc).
        modality: batch key mixed.
    """

    #: The registry name, used in error messages.
    objective_name = "brl"

    def __init__(self, counts: Sequence[int] | None = None, num_classes: int | None = None, n_max: int | None = None,
                 rho: float | None = None, class_order: str | Sequence[int] | None = None, layout: str = "ntu25_b", mix_ratio: float = 1 / 16, share: float = 0.64,
                 step_epoch: int = 20, alternating_weights: bool = False, official_mix: bool = False,
                 modality: str = "skeleton"):
        super().__init__()
        if counts is None:
            if None in (num_classes, n_max, rho):
                raise RecipeError("objective brl: give counts, or num_classes + n_max + rho")
            counts = ordered_counts(num_classes, n_max, rho, class_order)
        self.register_buffer("counts", torch.as_tensor(np.asarray(counts), dtype=torch.long), persistent=False)
        self.register_buffer("lower", torch.as_tensor(lower_body(get_layout(layout))), persistent=False)
        self.register_buffer("weights", torch.ones(len(counts)), persistent=False)
        self.mix_ratio, self.share, self.step_epoch = mix_ratio, share, step_epoch
        self.alternating, self.official_mix, self.modality = alternating_weights, official_mix, modality

    def on_epoch_start(self, model, epoch: int) -> None:
        weights = stage_weights(self.counts.cpu().numpy(), epoch, self.step_epoch, self.alternating)
        self.weights.copy_(torch.as_tensor(weights, dtype=self.weights.dtype))

    def forward(self, model, batch: Batch) -> tuple[torch.Tensor, ObjectiveOutput]:
        label = batch_field(batch, "label", self.objective_name)
        if self.training:
            x, y_a, y_b, lam = partial_mixup(batch_tensor(batch, self.modality, self.objective_name), label, self.counts, self.lower, self.mix_ratio,
                                             self.share, self.official_mix)
            batch = {**batch, self.modality: x}
        else:
            y_a, y_b, lam = label, label, torch.ones(label.shape[0], device=label.device)
        out = model(batch)
        logits = out.logits.float()
        ce_a = F.cross_entropy(logits, y_a, reduction="none")
        ce_b = F.cross_entropy(logits, y_b, reduction="none")
        w_a, w_b = self.weights[y_a] * lam, self.weights[y_b] * (1 - lam)
        loss = (w_a * ce_a + w_b * ce_b).sum() / (w_a + w_b).sum().clamp_min(1e-12)
        return loss, ObjectiveOutput(logits=out.logits, logs={"weighted_ce": loss.detach(),
                                                              "stage": torch.tensor(float(self.weights.std() > 0))})


#: Score-fusion weights of the BRL streams (configs/BRL README).
ENSEMBLE_WEIGHTS = {
    "brl_2s": {"j": 1.0, "b": 1.0},
    "brl_4s": {"j": 2.0, "b": 2.0, "jm": 1.0, "bm": 1.0},
    "brl_6s": {"j": 2.0, "b": 2.0, "k": 2.0, "jm": 1.0, "bm": 1.0, "km": 1.0},
}

TRANSFORMS = [TransformSpec(name=t.name, factory=t, modality="skeleton", doc=(t.__doc__ or "").strip().splitlines()[0])
              for t in (BRLStream, TemporalReverse)]
OBJECTIVE = ObjectiveSpec(name="brl", factory=BRLObjective,
                          doc="BRL: rebalanced partial mixup + detached action-aware class-balanced CE.",
                          batch=("label", "<modality>"))
DATASET = DatasetSpec(name="long_tailed", factory=LongTailed, nested={"dataset": "dataset"}, modalities=(),
                      doc="Exponential long-tailed cut (imbalance ratio rho) of another dataset's training split.")

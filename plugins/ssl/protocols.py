"""Evaluation protocols of representation learning: ``fusion eval RUN_DIR --protocol NAME``.

- ``linear``: a classifier on *frozen* pooled encoder features (computed once with the test
  transforms, train and test splits). Head ``bn_linear`` (MAMP: BatchNorm without affine, then Linear,
  fc init N(0, 0.01)) or ``linear`` (AimCLR family); SGD momentum 0.9, cosine per step.
- ``knn``: cosine k-nearest neighbours on L2-normalised features; ``k=1`` is 1-NN (HaLP, STARS);
  ``temperature > 0`` weights each neighbour by ``exp(sim / T)`` (InstDisc-style weighted kNN).
- ``finetune``: a new training run initialised from the encoder (``model.init``), classification with
  label smoothing and BEiT layer-wise lr decay (objective ``finetune``), written under ``RUN_DIR/protocols``.
- ``semi``: ``finetune`` (or ``linear`` with ``mode=linear``) on a labelled fraction of the training
  split (1 % / 10 %): ``random`` (MAMP: shuffle, keep ``int(N·fraction)``) or class-``balanced``
  (AimCLR family: ``round(fraction·n_c)`` per class, at least one); mean over ``seeds``.
- ``fewshot``: held-out classes (default: the second half); per episode ``shots`` labelled training
  samples per class form cosine prototypes, the held-out classes' test samples are classified by the
  nearest prototype; mean and std over episodes.

``init=random`` evaluates the same architecture with its random initialisation (the baseline every
pre-training must beat). Results go to ``RUN_DIR/protocol-NAME-TIME.json``.

Frozen features are cached in ``RUN_DIR/feature-cache/features-KEY.npz``: extracting them is most of a
probe's time, and every linear / kNN / few-shot / semi-linear call on the same encoder needs the same
ones. KEY hashes the resolved recipe (data, transforms, model, seed, overrides), the encoder, the init
and, for ``init=checkpoint``, the content of the checkpoint's weights, so a rewritten checkpoint or any
override that could change the features misses the cache.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fusion.errors import FusionError, RecipeError
from fusion.metrics import knn_scores, topk_accuracy  # noqa: F401  (knn_scores re-exported)
from fusion.train.eval_run import load_run  # noqa: F401  (re-exported for protocol users)

PROTOCOLS = ("linear", "knn", "finetune", "semi", "fewshot")


@dataclass
class ProtocolOptions:
    """Settings of every protocol (each reads the ones it needs); defaults follow MAMP / STARS."""

    checkpoint: str | None = None        # best | last (default: the recipe's eval.checkpoint)
    init: str = "checkpoint"             # checkpoint | random
    modality: str | None = None          # the encoder to evaluate (default: the only / first one)
    epochs: int | None = None            # linear 100, finetune 100
    lr: float | None = None              # linear 0.1, finetune 5e-4
    batch_size: int = 128
    weight_decay: float | None = None    # linear 0, finetune 0.05
    head: str = "bn_linear"              # linear probe head: bn_linear | linear
    k: int = 1
    temperature: float = 0.0
    fraction: float = 0.01
    balanced: bool = False
    seeds: list[int] = field(default_factory=lambda: [0])
    mode: str = "finetune"               # semi: finetune | linear
    layer_decay: float = 0.8
    label_smoothing: float = 0.1
    warmup_epochs: float = 5.0
    shots: int = 1
    classes: list[int] | None = None     # few-shot held-out classes
    episodes: int = 20
    cache: bool = True                   # reuse / write RUN_DIR/feature-cache (frozen-feature protocols)


# ---------------------------------------------------------------------------------------- pure parts


def labelled_subset(labels: np.ndarray, fraction: float, balanced: bool, seed: int) -> np.ndarray:
    """Sorted indices of a labelled subset: random ``int(N·fraction)`` or ``max(1, round(fraction·n_c))`` per class."""
    if not 0 < fraction <= 1:
        raise RecipeError(f"semi-supervised fraction must lie in (0, 1], got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    if not balanced:
        return np.sort(rng.permutation(len(labels))[: max(1, int(len(labels) * fraction))])
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        chosen.append(rng.choice(members, size=min(len(members), max(1, round(fraction * len(members)))), replace=False))
    return np.sort(np.concatenate(chosen))


class ProbeHead(nn.Module):
    """``bn_linear``: BatchNorm1d(D, affine=False, eps=1e−6) → Linear (MAMP); ``linear``: Linear only."""

    def __init__(self, dim: int, num_classes: int, kind: str = "bn_linear"):
        super().__init__()
        if kind not in ("bn_linear", "linear"):
            raise RecipeError(f"linear probe head must be bn_linear or linear, got {kind!r}")
        self.norm = nn.BatchNorm1d(dim, affine=False, eps=1e-6) if kind == "bn_linear" else nn.Identity()
        self.fc = nn.Linear(dim, num_classes)
        nn.init.trunc_normal_(self.fc.weight, std=0.01)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        return self.fc(self.norm(x))


def linear_probe(train_f, train_y, test_f, num_classes: int, epochs: int = 100, lr: float = 0.1,
                 weight_decay: float = 0.0, batch_size: int = 128, head: str = "bn_linear", seed: int = 0):
    """Train a probe on fixed features with SGD (momentum 0.9) and a per-step cosine schedule; test scores."""
    # standardise with training statistics: a randomly initialised deep encoder can emit features of
    # scale 1e-6, which BatchNorm's eps (and SGD at any sane lr) cannot learn from
    mean, std = train_f.mean(0), train_f.std(0).clamp_min(1e-12)
    train_f, test_f = (train_f - mean) / std, (test_f - mean) / std
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    probe = ProbeHead(train_f.shape[1], num_classes, head)
    optimizer = torch.optim.SGD(probe.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(train_f) / batch_size)
    total = max(1, epochs * steps_per_epoch)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    for _ in range(epochs):
        order = torch.randperm(len(train_f), generator=generator)
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            if len(idx) < 2 and head == "bn_linear":
                continue  # BatchNorm needs two samples
            loss = F.cross_entropy(probe(train_f[idx]), train_y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    probe.eval()
    with torch.no_grad():
        return probe(test_f)


def few_shot(train_f, train_y, test_f, test_y, classes, shots: int, episodes: int, seed: int = 0) -> dict:
    """Nearest cosine prototype over ``classes``: mean/std top-1 over ``episodes`` draws of ``shots`` per class."""
    classes = torch.as_tensor(classes)
    query = torch.isin(test_y, classes)
    if not query.any():
        raise FusionError(f"few-shot: the test split has no sample of classes {classes.tolist()}")
    remap = {int(c): i for i, c in enumerate(classes)}
    qf = F.normalize(test_f[query].float(), dim=1)
    qy = torch.tensor([remap[int(y)] for y in test_y[query]])
    rng = np.random.default_rng(seed)
    accs = []
    for _ in range(episodes):
        protos = []
        for c in classes.tolist():
            members = torch.nonzero(train_y == c).flatten().numpy()
            if len(members) == 0:
                raise FusionError(f"few-shot: the training split has no sample of class {c}")
            pick = rng.choice(members, size=min(shots, len(members)), replace=False)
            protos.append(F.normalize(train_f[pick].float(), dim=1).mean(0))
        scores = qf @ F.normalize(torch.stack(protos), dim=1).t()
        accs.append(float((scores.argmax(1) == qy).float().mean()))
    return {"top1": float(np.mean(accs)), "top1_std": float(np.std(accs)), "episodes": episodes, "shots": shots,
            "classes": classes.tolist(), "count": int(query.sum())}


def score_report(scores: torch.Tensor, labels: torch.Tensor) -> dict:
    return {"top1": topk_accuracy(scores, labels, 1), "top5": topk_accuracy(scores, labels, min(5, scores.shape[1])),
            "count": int(len(labels))}


# ---------------------------------------------------------------------------------------- runs




def encoder_modality(built, wanted: str | None) -> str:
    encoders = built.module.model.encoders
    if wanted is None:
        return next(iter(encoders))
    if wanted not in encoders:
        raise RecipeError(f"--modality {wanted!r}: the run has encoders for {', '.join(encoders)}")
    return wanted


def single_view(blocks: list) -> list:
    """Training transforms for a downstream stage: an ``ssl.views`` block becomes its first view's pipeline."""
    out = []
    for block in blocks:
        if block.get("name") == "ssl.views":
            views = (block.get("args") or {}).get("views") or [[]]
            out.extend(single_view(list(views[0])))
        else:
            out.append(block)
    return out


@torch.no_grad()
def extract_features(recipe: dict, built, split: str, modality: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Pooled encoder features and labels of ``split``, with the test transforms, in dataset order."""
    from fusion.train.build import build_dataset, build_loader

    dataset = build_dataset(recipe, built.registry, "test", split=split)
    loader = build_loader(recipe, dataset, built.collator, False, recipe["eval"]["batch_size"])
    encoder = built.module.model.encoders[modality]
    encoder.eval()
    feats, labels = [], []
    for batch in loader:
        feats.append(encoder(batch[modality]).pooled.float())
        labels.append(batch["label"])
    return torch.cat(feats), torch.cat(labels)


FEATURE_CACHE = "feature-cache"


def weights_digest(checkpoint_path: Path) -> str:
    """sha256 of a checkpoint's ``model.safetensors``: rewriting the checkpoint changes the cache key."""
    digest = hashlib.sha256()
    with open(Path(checkpoint_path) / "model.safetensors", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def feature_cache_key(recipe: dict, checkpoint_path: Path, init: str, modality: str, splits: tuple[str, str]) -> str:
    """Hash of everything the frozen features depend on (the whole resolved recipe, to be safe)."""
    identity = {"recipe": {k: v for k, v in recipe.items() if k != "source"}, "init": init, "modality": modality,
                "splits": list(splits), "weights": weights_digest(checkpoint_path) if init == "checkpoint" else None}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:20]


def cached_features(run_dir: Path, recipe: dict, built, checkpoint_path: Path, init: str, modality: str,
                    splits: tuple[str, str], use_cache: bool = True):
    """``(train_f, train_y, test_f, test_y, cache_path or None, hit)``, read from or written to the run's cache."""
    path = None
    if use_cache:
        key = feature_cache_key(recipe, checkpoint_path, init, modality, splits)
        path = run_dir / FEATURE_CACHE / f"features-{key}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                return (*(torch.from_numpy(z[n]) for n in ("train_f", "train_y", "test_f", "test_y")), path, True)
    train_f, train_y = extract_features(recipe, built, splits[0], modality)
    test_f, test_y = extract_features(recipe, built, splits[1], modality)
    if path is not None:
        partial = path.with_name(path.stem + ".partial.npz")  # written whole, then renamed: no torn cache files
        try:
            path.parent.mkdir(exist_ok=True)
            np.savez(partial, train_f=train_f.numpy(), train_y=train_y.numpy(), test_f=test_f.numpy(),
                     test_y=test_y.numpy())
            partial.replace(path)
        except OSError:  # a read-only run directory: evaluate without caching
            path = None
    return train_f, train_y, test_f, test_y, path, False


def finetune_recipe(recipe: dict, run_dir: Path, opts: ProtocolOptions, modality: str, which: str) -> dict:
    """The recipe of a fine-tuning stage started from ``run_dir``'s encoder."""
    out = copy.deepcopy(recipe)
    out.pop("source", None)
    out["name"] = f"{recipe.get('name') or 'run'}-finetune"
    out["data"]["transforms"]["train"] = single_view(out["data"]["transforms"]["train"])
    lr = opts.lr if opts.lr is not None else 5e-4
    out["model"]["init"] = None if opts.init == "random" else {
        "checkpoint": str(run_dir), "keys": f"model.encoders.{modality}.", "which": which}
    out["model"]["freeze"] = []
    out["objective"] = {"name": "finetune", "args": {"label_smoothing": opts.label_smoothing,
                                                      "layer_decay": opts.layer_decay, "base_lr": lr,
                                                      "modality": modality}}
    train = out["train"]
    train.update(epochs=opts.epochs or 100, eval_every=1)
    train["optimizer"] = {"name": "adamw", "lr": lr, "weight_decay": 0.05 if opts.weight_decay is None else opts.weight_decay,
                          "betas": [0.9, 0.999], "momentum": 0.9, "nesterov": False}
    train["schedule"] = {"name": "cosine", "warmup_epochs": opts.warmup_epochs, "milestones": [], "gamma": 0.1,
                         "min_lr": 1e-6}
    return out


def run_finetune(recipe: dict, out_dir: Path) -> dict:
    from fusion.recipe import from_dict
    from fusion.train.trainer import Trainer

    summary = Trainer(from_dict(recipe), out_dir, progress=False).fit()
    return {"top1": summary["test"]["top1"], "top5": summary["test"]["top5"], "best_top1": summary["best"]["top1"],
            "count": summary["test"]["count"], "run_dir": str(out_dir)}


def subset_dataset_block(block: dict, fraction: float, balanced: bool, seed: int, split: str) -> dict:
    """The ``labelled_subset`` dataset block wrapping ``block`` (built with the recipe's registry, so a dataset
    from the recipe's ``plugins:`` can be wrapped)."""
    return {"name": "labelled_subset", "args": {"dataset": block, "fraction": fraction, "balanced": balanced,
                                                "seed": seed, "subset_split": split}}


def run_protocol(run_dir: str | Path, protocol: str, opts: ProtocolOptions | None = None, overrides=(),
                 trust_plugins: bool = False) -> dict:
    """Run one protocol on a finished run and write ``RUN_DIR/protocol-NAME-TIME.json``."""
    if protocol not in PROTOCOLS:
        raise RecipeError(f"--protocol {protocol!r}: choose one of {', '.join(PROTOCOLS)}")
    run_dir, opts = Path(run_dir), opts or ProtocolOptions()
    recipe, built, path = load_run(run_dir, overrides, opts.checkpoint, opts.init, trust_plugins=trust_plugins)
    which = opts.checkpoint or recipe["eval"]["checkpoint"]
    modality = encoder_modality(built, opts.modality)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    result: dict = {"protocol": protocol, "checkpoint": str(path), "init": opts.init, "options": asdict(opts)}
    needs_features = protocol in ("linear", "knn", "fewshot") or (protocol == "semi" and opts.mode == "linear")
    if needs_features:
        splits = (recipe["data"]["train_split"], recipe["eval"]["split"] or recipe["data"]["test_split"])
        started = time.perf_counter()
        train_f, train_y, test_f, test_y, cache, hit = cached_features(run_dir, recipe, built, path, opts.init,
                                                                       modality, splits, opts.cache)
        result.update(feature_dim=int(train_f.shape[1]), feature_cache=str(cache) if cache else None,
                      feature_cache_hit=hit, feature_seconds=round(time.perf_counter() - started, 3))
    n_cls = built.num_classes
    if protocol == "linear":
        scores = linear_probe(train_f, train_y, test_f, n_cls, opts.epochs or 100, 0.1 if opts.lr is None else opts.lr,
                              opts.weight_decay or 0.0, opts.batch_size, opts.head)
        result.update(score_report(scores, test_y))
    elif protocol == "knn":
        result.update(score_report(knn_scores(train_f, train_y, test_f, n_cls, opts.k, opts.temperature), test_y))
    elif protocol == "fewshot":
        classes = opts.classes if opts.classes is not None else list(range(n_cls // 2, n_cls))
        result.update(few_shot(train_f, train_y, test_f, test_y, classes, opts.shots, opts.episodes))
    elif protocol == "finetune":
        result.update(run_finetune(finetune_recipe(recipe, run_dir, opts, modality, which),
                                   run_dir / "protocols" / f"finetune-{stamp}"))
    else:  # semi
        trials = []
        for seed in opts.seeds:
            if opts.mode == "linear":
                keep = torch.as_tensor(labelled_subset(train_y.numpy(), opts.fraction, opts.balanced, seed))
                scores = linear_probe(train_f[keep], train_y[keep], test_f, n_cls, opts.epochs or 100,
                                      0.1 if opts.lr is None else opts.lr, opts.weight_decay or 0.0,
                                      opts.batch_size, opts.head, seed)
                trials.append({"seed": seed, "labelled": int(len(keep)), **score_report(scores, test_y)})
            else:
                stage = finetune_recipe(recipe, run_dir, opts, modality, which)
                stage["data"]["dataset"] = subset_dataset_block(stage["data"]["dataset"], opts.fraction, opts.balanced,
                                                                seed, stage["data"]["train_split"])
                trials.append({"seed": seed, **run_finetune(stage, run_dir / "protocols" / f"semi-{stamp}-seed{seed}")})
        result.update(trials=trials, top1=float(np.mean([t["top1"] for t in trials])),
                      top1_std=float(np.std([t["top1"] for t in trials])))
    out = run_dir / f"protocol-{protocol}-{stamp}.json"
    for again in range(1, 1000):  # several calls within one second (cached features make them fast)
        if not out.exists():
            break
        out = run_dir / f"protocol-{protocol}-{stamp}-{again}.json"
    result["output"] = str(out)
    out.write_text(json.dumps(result, indent=1))
    return result

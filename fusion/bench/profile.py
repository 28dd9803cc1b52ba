"""``fusion profile``: what a recipe's model costs on this machine.

Parameters (trainable and total) per component, forward FLOPs per sample counted by
``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add is 2 FLOPs; skeleton papers quote
GMACs = FLOPs / 2), training-step and inference throughput (median of timed runs after warm-up),
peak memory and the data loader's throughput on its own. The numbers are the same whatever the
machine for parameters and FLOPs, and this machine's for the timings. For self-supervised recipes
whose views are stacked on the person axis, FLOPs and inference are of one view (the downstream
model); the training step runs on all views.

``shapes`` replaces the data by random inputs of given per-sample shapes (as MMAction2's
``get_flops --shape``), to profile a paper configuration at its paper input size without its dataset.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from fusion.errors import RecipeError
from fusion.model import count_parameters

#: Keys of :func:`profile_recipe`'s result (``--json`` prints exactly these).
RESULT_KEYS = (
    "recipe", "device", "threads", "batch_size", "inputs", "num_classes", "params", "flops_per_sample",
    "gmacs_per_sample", "flops_by_component", "train_samples_per_s", "train_step_ms", "infer_samples_per_s",
    "infer_ms", "peak_memory_mb", "memory_kind", "loader_samples_per_s", "runs", "warmup",
)


def components(module: nn.Module) -> dict[str, nn.Module]:
    """The parts profiled separately: each encoder, the mixer, the head, and the objective if it has weights.

    ``module`` is a :class:`fusion.train.build.TrainModule` (model + objective) or a bare ``FusionModel``.
    """
    model = getattr(module, "model", module)
    parts: dict[str, nn.Module] = {f"encoders.{name}": enc for name, enc in model.encoders.items()}
    parts["mixer"] = model.mixer
    if model.head is not None:
        parts["head"] = model.head
    objective = getattr(module, "objective", None)
    if objective is not None and any(True for _ in objective.parameters()):
        parts["objective"] = objective
    return parts


def parameter_table(module: nn.Module) -> dict[str, dict[str, int]]:
    """``{component: {"trainable": n, "total": n}}`` plus a ``"total"`` row for the whole module."""
    table = {name: {"trainable": count_parameters(part), "total": count_parameters(part, trainable_only=False)}
             for name, part in components(module).items()}
    table["total"] = {"trainable": count_parameters(module), "total": count_parameters(module, trainable_only=False)}
    return table


def count_flops(model: nn.Module, batch: dict) -> tuple[int, dict[str, int]]:
    """Forward FLOPs of ``model(batch)`` (eval mode, no grad) and their split by top-level submodule path."""
    was_training = model.training
    model.eval()
    # FlopCounterMode's module tracker hooks every input that requires grad, and fails on
    # parameters passed as module inputs (e.g. learnable queries) under no_grad: count without them
    requires = [p for p in model.parameters() if p.requires_grad]
    for param in requires:
        param.requires_grad_(False)
    # Attention must run as visible matmuls: nn.TransformerEncoderLayer's eval-mode fast path is one fused
    # op the counter sees as 0 FLOPs, and the CPU flash kernel of scaled_dot_product_attention has no
    # FLOP formula (QK^T and AV were missing); the math backend decomposes into counted bmm's.
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
            model(batch)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        model.train(was_training)
        for param in requires:
            param.requires_grad_(True)
    root = type(model).__name__
    by_module = {name.removeprefix(root + "."): sum(ops.values()) for name, ops in counter.get_flop_counts().items()}
    return counter.get_total_flops(), by_module


def model_batch(objective: nn.Module, batch: dict) -> dict:
    """The batch the bare model sees at inference: one view when the objective stacks views.

    Self-supervised objectives train on ``num_views`` augmented views stacked on the person axis of
    ``batch[objective.modality]``; a downstream model sees one, so FLOPs and inference time are counted
    on the first view (the training step still runs on all of them).
    """
    views = int(getattr(objective, "num_views", 1) or 1)
    key = getattr(objective, "modality", None)
    if views <= 1 or key not in batch or batch[key].dim() != 5 or batch[key].shape[-1] % views:
        return batch
    return {**batch, key: batch[key].chunk(views, dim=-1)[0]}


def component_flops(by_module: Mapping[str, int], names: Sequence[str]) -> dict[str, int]:
    """FLOPs per component name (``encoders.rgb``, ``mixer``, ``head``) from :func:`count_flops`'s split."""
    return {name: int(by_module.get(name, 0)) for name in names}


def median_seconds(step: Callable[[], object], runs: int, warmup: int, sync: Callable[[], None]) -> float:
    """Median wall time of ``step()`` over ``runs`` timed calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _to_device(batch: dict, device: torch.device) -> dict:
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            out[key] = value.to(device)
        elif isinstance(value, dict):
            out[key] = _to_device(value, device)
        else:
            out[key] = value
    return out


def random_batch(shapes: Mapping[str, Sequence[int]], batch_size: int, num_classes: int) -> dict:
    """A collated-looking batch of random inputs: ``{modality: (B, *shape)}``, all present, random labels."""
    generator = torch.Generator().manual_seed(0)
    batch: dict = {m: torch.randn(batch_size, *shape, generator=generator) for m, shape in shapes.items()}
    batch["mask"] = {m: torch.ones(batch_size, dtype=torch.bool) for m in shapes}
    batch["label"] = torch.randint(0, num_classes, (batch_size,), generator=generator)
    batch["index"] = torch.arange(batch_size)
    batch["meta"] = [{} for _ in range(batch_size)]
    return batch


def loader_throughput(loader, batches: int) -> tuple[float, dict]:
    """Samples/s of ``loader`` alone over its first ``batches`` batches (workers started included), first batch."""
    start, seen, first = time.perf_counter(), 0, None
    for i, batch in enumerate(loader):
        first = batch if first is None else first
        seen += len(batch["label"])
        if i + 1 >= batches:
            break
    if first is None:
        raise RecipeError("profile: the training split is empty; nothing to profile")
    return seen / (time.perf_counter() - start), first


def peak_memory_mb(device: torch.device) -> tuple[float, str]:
    """CUDA: max allocated by tensors; CPU: the process's peak resident set size (includes the data)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (2**20 if sys.platform == "darwin" else 2**10), "cpu_peak_rss"


def profile_recipe(
    recipe: dict,
    batch_size: int | None = None,
    shapes: Mapping[str, Sequence[int]] | None = None,
    num_classes: int | None = None,
    runs: int = 5,
    warmup: int = 2,
    loader_batches: int = 4,
    device: str | None = None,
) -> dict:
    """Profile the model a validated ``recipe`` builds; see the module docstring. Returns :data:`RESULT_KEYS`.

    Args:
        batch_size: samples per step (default ``train.batch_size``).
        shapes: per-sample input shapes ``{modality: (C, T, ...)}`` instead of the recipe's data; then
            ``num_classes`` (or ``model.num_classes``) must be given and no loader is timed.
        runs, warmup: timed and untimed repetitions of each measurement.
        loader_batches: batches the loader throughput is measured over.
        device: ``cpu``, ``cuda``...; default CUDA when available.
    """
    from fusion.train.build import (
        build_collator,
        build_dataset,
        build_loader,
        build_train_module,
        num_classes_of,
        registry_for,
    )

    if runs < 1 or warmup < 0:
        raise RecipeError(f"profile: runs must be >= 1 and warmup >= 0, got runs={runs}, warmup={warmup}")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    registry = registry_for(recipe)
    batch_size = int(batch_size or recipe["train"]["batch_size"])
    loader_rate = None
    if shapes:
        num_classes = num_classes or recipe["model"]["num_classes"]
        if not num_classes:
            raise RecipeError("profile: with --shape, give --num-classes (or set model.num_classes in the recipe)")
        batch = random_batch(shapes, batch_size, int(num_classes))
    else:
        dataset = build_dataset(recipe, registry, "train")
        collator = build_collator(recipe, registry, dataset)
        num_classes = num_classes_of(recipe, dataset)
        loader = build_loader(recipe, dataset, collator, train=True, batch_size=batch_size)
        loader_rate, batch = loader_throughput(loader, loader_batches)
        batch_size = len(batch["label"])
    torch.manual_seed(recipe["train"]["seed"])
    module = build_train_module(recipe, registry, int(num_classes)).to(dev)
    batch = _to_device(batch, dev)
    inputs = {m: list(batch[m].shape[1:]) for m in module.model.encoders}
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    params = parameter_table(module)
    single = model_batch(module.objective, batch)
    total_flops, by_module = count_flops(module.model, single)

    trainable = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=1e-6) if trainable else None

    def train_step() -> None:
        loss, _ = module(batch)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    module.train()
    train_seconds = median_seconds(train_step, runs, warmup, sync)
    module.eval()

    def infer_step() -> None:
        with torch.inference_mode():
            module.model(single)

    infer_seconds = median_seconds(infer_step, runs, warmup, sync)
    memory, memory_kind = peak_memory_mb(dev)
    return {
        "recipe": recipe.get("source") or recipe.get("name"),
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "batch_size": batch_size,
        "inputs": inputs,
        "num_classes": int(num_classes),
        "params": params,
        "flops_per_sample": total_flops / batch_size,
        "gmacs_per_sample": total_flops / batch_size / 2e9,
        "flops_by_component": {k: v / batch_size for k, v in component_flops(by_module, list(components(module))).items()},
        "train_samples_per_s": batch_size / train_seconds,
        "train_step_ms": train_seconds * 1e3,
        "infer_samples_per_s": batch_size / infer_seconds,
        "infer_ms": infer_seconds * 1e3,
        "peak_memory_mb": memory,
        "memory_kind": memory_kind,
        "loader_samples_per_s": loader_rate,
        "runs": runs,
        "warmup": warmup,
    }


def format_report(result: Mapping) -> str:
    """The human-readable table ``fusion profile`` prints."""
    lines = [f"recipe {result['recipe']}  device {result['device']} ({result['threads']} threads)  "
             f"batch {result['batch_size']}  inputs {result['inputs']}  classes {result['num_classes']}", ""]
    width = max(len(name) for name in result["params"])
    lines.append(f"{'component':<{width}}  {'trainable':>12}  {'total':>12}  {'GFLOPs/sample':>13}")
    for name, counts in result["params"].items():
        flops = result["flops_per_sample"] if name == "total" else result["flops_by_component"].get(name, 0.0)
        lines.append(f"{name:<{width}}  {counts['trainable']:>12,}  {counts['total']:>12,}  {flops / 1e9:>13.3f}")
    lines += [
        "",
        f"FLOPs/sample {result['flops_per_sample'] / 1e9:.3f} G  (= {result['gmacs_per_sample']:.3f} GMACs)",
        f"train step   {result['train_step_ms']:.1f} ms  -> {result['train_samples_per_s']:.1f} samples/s "
        f"(median of {result['runs']} after {result['warmup']} warm-up)",
        f"inference    {result['infer_ms']:.1f} ms  -> {result['infer_samples_per_s']:.1f} samples/s",
        f"peak memory  {result['peak_memory_mb']:.0f} MiB ({result['memory_kind']})",
        "data loader  " + ("not timed (random inputs from --shape)" if result["loader_samples_per_s"] is None
                           else f"{result['loader_samples_per_s']:.1f} samples/s alone"),
    ]
    return "\n".join(lines)


def parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    """``"rgb=3x16x224x224"`` (or commas) -> ``("rgb", (3, 16, 224, 224))``: one sample, no batch dimension."""
    modality, sep, dims = text.partition("=")
    try:
        shape = tuple(int(d) for d in dims.replace(",", "x").split("x") if d)
    except ValueError:
        shape = ()
    if not sep or not modality or not shape or min(shape) < 1:
        raise RecipeError(f"--shape {text!r}: expected MODALITY=C x T x ..., e.g. skeleton=3x64x25x2 or rgb=3x16x224x224")
    return modality, shape

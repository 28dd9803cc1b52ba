"""Precise BatchNorm (PySlowFast's "precise BN"): re-estimate BatchNorm running statistics over N
training batches with the current weights, before each evaluation.

Why: running statistics are an exponential average over past steps, taken while the weights
changed. After a few fast-moving steps (a 2-epoch run) they lag the weights so far that every test
sample lands in one class (SynthAct ``late``, 2 epochs: 0.083 top-1 with running statistics, 0.9
with re-estimated ones). Recipe key ``eval.precise_bn: {batches: N}`` (default 50; ``false`` or
``batches: 0`` turns it off); models without BatchNorm are untouched.

Deterministic: the batches follow the training sampler's order for the epoch (seeded by
``train.seed`` and the epoch) and the global random state is restored afterwards, so turning precise
BN on does not change what training draws next. Distributed: rank ``r`` reads every P-th batch and
the statistics are averaged over the processes.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from fusion.data import EpochSampler
from fusion.errors import RecipeError

DEFAULT_BATCHES = 50


def batches_of(config) -> int:
    """The number of batches ``eval.precise_bn`` asks for (0 = off)."""
    if config is False or config is None:
        return 0
    if config is True:
        return DEFAULT_BATCHES
    unknown = set(config) - {"batches"}
    if unknown:
        raise RecipeError(f"eval.precise_bn.{sorted(unknown)[0]}: unknown key; precise_bn takes only 'batches' "
                          f"(e.g. eval.precise_bn: {{batches: {DEFAULT_BATCHES}}}, or false to turn it off)")
    batches = config.get("batches", DEFAULT_BATCHES)
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 0:
        raise RecipeError(f"eval.precise_bn.batches: {batches!r}; expected a whole number >= 0 (0 turns it off)")
    return batches


def bn_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """BatchNorm layers that keep running statistics (those evaluation uses)."""
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats and m.running_mean is not None]


def precise_bn_loader(dataset, collator, batch_size: int, seed: int, epoch: int, workers: int = 0) -> DataLoader:
    """The training set in the training sampler's order for ``epoch`` (``batch_size`` per process)."""
    sampler = EpochSampler(len(dataset), shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=collator, num_workers=workers)


@torch.no_grad()
def update_bn_stats(accelerator, model: nn.Module, loader, batches: int) -> int:
    """Set every BatchNorm layer's running mean / variance to the average of its batch statistics over
    ``batches`` batches of ``loader`` (this process's share); returns the batches used (0: nothing done)."""
    from accelerate.utils import send_to_device

    was_training = model.training
    model.train()  # FusionModel.train keeps frozen modules in eval mode: their statistics stay as loaded
    layers = [layer for layer in bn_layers(model) if layer.training]
    model.train(was_training)
    if not layers or batches <= 0:
        return 0
    rank, world = accelerator.process_index, accelerator.num_processes
    momenta = [layer.momentum for layer in layers]
    means = [torch.zeros_like(layer.running_mean) for layer in layers]
    variances = [torch.zeros_like(layer.running_var) for layer in layers]
    devices = [accelerator.device] if accelerator.device.type == "cuda" else []
    used = 0
    with torch.random.fork_rng(devices=devices):
        model.train()
        for layer in layers:
            layer.momentum = 1.0  # running statistics = this batch's statistics
        try:
            for position, batch in enumerate(loader):
                if used >= batches:
                    break
                if position % world != rank or len(batch["label"]) < 2:  # another rank's batch; BN needs 2
                    continue
                model(send_to_device(batch, accelerator.device))
                for i, layer in enumerate(layers):
                    means[i] += layer.running_mean
                    variances[i] += layer.running_var
                used += 1
        finally:
            for layer, momentum in zip(layers, momenta):
                layer.momentum = momentum
            model.train(was_training)
    count = torch.tensor(float(used), device=accelerator.device)
    if world > 1:
        count = accelerator.reduce(count, "sum")
    if count == 0:
        return 0
    for layer, mean, variance in zip(layers, means, variances):
        if world > 1:
            mean, variance = accelerator.reduce(mean, "sum"), accelerator.reduce(variance, "sum")
        layer.running_mean.copy_(mean / count)
        layer.running_var.copy_(variance / count)
    return int(count)

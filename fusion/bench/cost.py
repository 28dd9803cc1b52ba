"""Cost of a bench cell: trainable parameters and forward FLOPs per sample on one real batch."""

from __future__ import annotations


def measure_cost(recipe: dict, batch_size: int = 2) -> dict:
    """``{"params": trainable parameters of the model, "gflops": forward GFLOPs per sample}``."""
    from fusion.bench.profile import count_flops, parameter_table
    from fusion.train.build import build_all, build_loader

    built = build_all(recipe)
    model = built.module.model
    loader = build_loader(recipe, built.test_set, built.collator, False, batch_size)
    batch = next(iter(loader))
    flops, _ = count_flops(model, batch)
    return {
        "params": parameter_table(model)["total"]["trainable"],
        "gflops": flops / len(batch["label"]) / 1e9,
    }

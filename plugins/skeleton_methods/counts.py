"""Parameter counts (sum of numel) of every full paper configuration, for comparison with the official code.

``python -m fusion_plugins.skeleton_methods.counts [recipes...]`` builds each paper recipe's model and
objective (no data, no weights) and prints trainable and total parameters; ``fusion profile RECIPE --shape
...`` gives the same counts plus FLOPs and timings.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAPER_RECIPES = (
    [f"recipes/ntu60/{n}.yaml" for n in ("hypergcn_base_xsub", "hypergcn_large_xsub", "psumnet_body_xsub",
                                         "psumnet_hand_xsub", "psumnet_leg_xsub", "psumnet_ntux_body_xsub",
                                         "psumnet_ntux_hand_xsub", "psumnet_ntux_leg_xsub", "cascadeformer_xview",
                                         "cascadeformer_xsub", "cascadeformer_pretrain_xview",
                                         "cascadeformer_pretrain_xsub")]
    + [f"recipes/ntu120/{n}.yaml" for n in ("hypergcn_base_xsub", "hypergcn_large_xset", "psumnet_body_xsub",
                                            "psumnet_hand_xsub", "psumnet_leg_xsub")]
    + [f"recipes/ntu_lt/{n}.yaml" for n in ("brl_ntu60_xsub_lt_j", "brl_ntu120_xsub_lt_j")]
    + ["recipes/gym/gym99.yaml", "recipes/gym/gym288.yaml"]
)


def recipe_counts(path: str | Path) -> dict[str, int]:
    """``{"trainable", "total", "objective"}`` parameters of the recipe's model (+ objective's own weights)."""
    from fusion.model import count_parameters
    from fusion.recipe import load_recipe
    from fusion.train.build import build_train_module, registry_for

    recipe = load_recipe(path, ["model.init=null"])
    module = build_train_module(recipe, registry_for(recipe), int(recipe["model"]["num_classes"]))
    return {"trainable": count_parameters(module.model), "total": count_parameters(module.model, trainable_only=False),
            "objective": count_parameters(module.objective)}


def main(argv: list[str] | None = None) -> int:
    paths = argv or [str(ROOT / p) for p in PAPER_RECIPES]
    print(f"{'recipe':48s} {'trainable':>12s} {'total':>12s} {'objective':>10s}")
    for path in paths:
        c = recipe_counts(path)
        print(f"{Path(path).relative_to(ROOT) if Path(path).is_absolute() else path!s:48s} "
              f"{c['trainable']:12,d} {c['total']:12,d} {c['objective']:10,d}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

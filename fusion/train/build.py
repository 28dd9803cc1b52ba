"""Turn a validated recipe into datasets, loaders, the model and the objective."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.utils.data import DataLoader

from fusion.construct import BuildContext, create_dataset, create_metric, create_objective, create_transform
from fusion.data import Collator, EpochSampler, RecipeDataset
from fusion.errors import ContractError, DataError, RecipeError
from fusion.model import FusionModel, build_model
from fusion.registry import Registry, get_registry
from fusion.train.threads import worker_init


class TrainModule(nn.Module):
    """Model + objective in one module, so data parallelism wraps (and synchronises) both."""

    def __init__(self, model: FusionModel, objective: nn.Module):
        super().__init__()
        self.model = model
        self.objective = objective

    def forward(self, batch: dict):
        return self.objective(self.model, batch)

    def param_groups(self, weight_decay: float, decay_all: bool = False) -> list[dict]:
        """The objective's groups (layer decay, frozen parts...) if it defines them, else the default rule."""
        from fusion.train.optim import param_groups

        if hasattr(self.objective, "param_groups"):
            if decay_all:
                raise RecipeError(f"train.optimizer.decay_all: objective {type(self.objective).__name__} sets its own "
                                  "parameter groups (weight-decay exclusions included); remove decay_all")
            return self.objective.param_groups(self.model, weight_decay)
        return param_groups(self, weight_decay, decay_all)


#: Recipes already handed to ``fusion_recipe_loaded`` (by identity; the dicts are kept so ids stay unique).
_ANNOUNCED: dict[int, dict] = {}


def registry_for(recipe: dict) -> Registry:
    """The registry of the installed plugins plus the recipe's ``plugins:``.

    Every command reaches its recipe's registry here before it builds anything, so this is the one place
    that calls ``fusion_recipe_loaded`` (once per recipe dict).
    """
    registry = get_registry(recipe.get("plugins") or ())
    if id(recipe) not in _ANNOUNCED:
        _ANNOUNCED[id(recipe)] = recipe
        registry.call_event("fusion_recipe_loaded", recipe=recipe)
    return registry


def modalities_of(recipe: dict) -> list[str]:
    return list(recipe["data"]["modalities"] or recipe["model"]["encoders"].keys())


def build_base_dataset(recipe: dict, registry: Registry, split: str):
    block = recipe["data"]["dataset"]
    return create_dataset(block, BuildContext(registry, "data.dataset"), split)


def build_transforms(recipe: dict, registry: Registry, phase: str) -> list:
    return [
        create_transform(block, BuildContext(registry, f"data.transforms.{phase}[{i}]"))
        for i, block in enumerate(recipe["data"]["transforms"][phase])
    ]


def build_dataset(recipe: dict, registry: Registry, phase: str, split: str | None = None, drop=(), base=None,
                  clean: bool = False) -> RecipeDataset:
    """The dataset for ``phase`` ("train" or "test"), with that phase's transforms; ``base`` replaces the
    registered dataset's ``split`` (a validation hold-out), ``clean`` leaves out ``eval.corruption``."""
    data = recipe["data"]
    split = split or data["train_split" if phase == "train" else "test_split"]
    transforms = build_transforms(recipe, registry, phase)
    if phase == "test" and recipe["eval"].get("corruption") and not clean:
        from fusion.data.corruption import corruption_transform, time_axes

        # last, so frames are dropped from what the model sees (samplers that crop valid frames
        # would otherwise cut the corrupted frames away)
        transforms.append(corruption_transform(recipe["eval"]["corruption"], time_axes(registry)))
    return RecipeDataset(
        base if base is not None else build_base_dataset(recipe, registry, split),
        modalities_of(recipe),
        transforms,
        seed=recipe["train"]["seed"],
        on_error=data["on_error"],
        modality_dropout=data["modality_dropout"] if phase == "train" else 0.0,
        drop=drop,
    )


def require_samples(dataset, phase: str, split: str) -> None:
    """One sentence instead of "training" or "evaluating" on zero samples."""
    if len(dataset) == 0:
        base = getattr(dataset, "base", dataset)
        raise DataError(f"the {phase} split {split!r} of dataset {type(base).__name__} has no samples; "
                        "check data.dataset's paths and split names")


def build_collator(recipe: dict, registry: Registry, dataset: RecipeDataset) -> Collator:
    converters = {}
    for modality in modalities_of(recipe):
        if modality not in registry.specs["modality"]:
            raise RecipeError(
                f"data.modalities: no plugin registers modality {modality!r}; known: {', '.join(registry.names('modality'))}"
            )
        converters[modality] = registry.get("modality", modality).factory
    shapes = {}
    probe = RecipeDataset(dataset.base, dataset.modalities, dataset.transforms, dataset.seed, dataset.on_error)
    for index in range(min(len(dataset), 8)):
        sample = probe[index]
        if sample is None:
            continue
        for modality, convert in converters.items():
            if modality in sample and modality not in shapes:
                shapes[modality] = tuple(convert(sample[modality]).shape)
        if len(shapes) == len(converters):
            break
    return Collator(converters, shapes)


def build_loader(recipe: dict, dataset: RecipeDataset, collator: Collator, train: bool, batch_size: int) -> DataLoader:
    workers = recipe["data"]["num_workers"]
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=EpochSampler(len(dataset), shuffle=train, seed=recipe["train"]["seed"]),
        collate_fn=collator,
        num_workers=workers,
        drop_last=train and bool(recipe["train"].get("drop_last", False)),  # training only, as MAE / MAMP
        persistent_workers=False,
        pin_memory=False,
        worker_init_fn=worker_init if workers else None,  # one thread per worker (fusion.train.threads)
    )


def num_classes_of(recipe: dict, dataset) -> int:
    given = recipe["model"]["num_classes"]
    found = getattr(dataset.base if isinstance(dataset, RecipeDataset) else dataset, "num_classes", None)
    if given is None and found is None:
        raise RecipeError("model.num_classes: the dataset does not say how many classes it has; set it in the recipe")
    if given is not None and found is not None and given != found:
        raise ContractError(f"model.num_classes is {given} but the dataset has {found} classes")
    return int(given if given is not None else found)


def build_train_module(recipe: dict, registry: Registry, num_classes: int) -> TrainModule:
    from fusion.train.init import apply_freeze, apply_init

    model = build_model(recipe, registry, num_classes)
    objective = create_objective(recipe["objective"], BuildContext(registry, "objective"))
    module = TrainModule(model, objective)
    init = recipe["model"].get("init")
    for spec in init if isinstance(init, list) else [init] if init else []:  # a list: several earlier runs
        apply_init(module, spec, registry)
    if recipe["model"].get("freeze"):
        apply_freeze(model, recipe["model"]["freeze"])
    return module


@dataclass
class Built:
    registry: Registry
    train_set: RecipeDataset
    test_set: RecipeDataset
    collator: Collator
    module: TrainModule
    num_classes: int
    class_names: list[str]
    val_set: RecipeDataset | None = None  # what selects ``best`` (fusion.data.validation); None: no validation
    validation: str = ""  # where validation comes from, in one sentence
    metrics: list = field(default_factory=list)  # eval.metrics, built: callables (scores, labels) -> dict


def build_all(recipe: dict) -> Built:
    from fusion.data.validation import plan_validation

    registry = registry_for(recipe)
    split = recipe["data"]["train_split"]
    plan = plan_validation(recipe["data"], build_base_dataset(recipe, registry, split),
                           lambda name: build_base_dataset(recipe, registry, name))
    train_set = build_dataset(recipe, registry, "train", base=plan.train)
    val_set = None if plan.val is None else build_dataset(recipe, registry, "test", base=plan.val, clean=True)
    test_set = build_dataset(recipe, registry, "test", split=recipe["eval"]["split"], drop=recipe["eval"]["drop"])
    collator = build_collator(recipe, registry, train_set)
    num_classes = num_classes_of(recipe, train_set)
    torch.manual_seed(recipe["train"]["seed"])
    module = build_train_module(recipe, registry, num_classes)
    names = list(getattr(train_set.base, "class_names", None) or [str(i) for i in range(num_classes)])
    metrics = [create_metric(block, BuildContext(registry, f"eval.metrics[{i}]"))
               for i, block in enumerate(recipe["eval"].get("metrics") or [])]
    return Built(registry, train_set, test_set, collator, module, num_classes, names, val_set, plan.rule, metrics)

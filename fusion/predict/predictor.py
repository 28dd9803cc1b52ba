"""A trained run rebuilt for prediction: its test transforms, clips, weights and class names.

The dataset is not built (a user predicting with an NTU model need not have NTU): class names and
the class count come from the run's ``summary.json`` (written at training from the dataset), and
only when that is missing is the dataset built to ask it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from fusion.data import Collator, RecipeDataset
from fusion.errors import DataError, FusionError
from fusion.train import checkpoint as ckpt
from fusion.train.build import build_base_dataset, build_train_module, build_transforms, modalities_of, registry_for
from fusion.train.eval_run import load_weights, read_run_recipe


class SampleList(Dataset):
    """Raw samples already in memory, as a dataset the run's transforms can wrap."""

    def __init__(self, samples: list[dict]):
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        return {**sample, "meta": dict(sample.get("meta") or {})}  # transforms must not edit the caller's sample

    def sample_id(self, index: int) -> str:
        return str((self.samples[index].get("meta") or {}).get("id", f"#{index}"))


@dataclass
class Prediction:
    """One sample's averaged class probabilities and where its time went (seconds per stage)."""

    id: str
    probabilities: np.ndarray
    class_names: list[str]
    seconds: dict[str, float] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def top(self, k: int) -> list[tuple[str, float]]:
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [(self.class_names[i], float(self.probabilities[i])) for i in order]

    @property
    def label(self) -> int:
        return int(np.argmax(self.probabilities))


def _class_names(run_dir: Path, recipe: dict, registry) -> list[str]:
    summary = run_dir / "summary.json"
    if summary.is_file():
        try:
            names = json.loads(summary.read_text()).get("class_names")
        except json.JSONDecodeError:
            names = None
        if names:
            return [str(n) for n in names]
    count = recipe["model"]["num_classes"]
    try:  # an unfinished run: ask the dataset (it may not be on this machine)
        base = build_base_dataset(recipe, registry, recipe["data"]["train_split"])
    except FusionError as exc:
        if count is None:
            raise FusionError(f"{run_dir}: no summary.json (an unfinished run?) and its dataset cannot be read to "
                              f"count the classes ({exc})") from None
        return [str(i) for i in range(int(count))]
    count = count or getattr(base, "num_classes", None)
    names = getattr(base, "class_names", None)
    if not names and count is None:
        raise FusionError(f"{run_dir}: no summary.json and the dataset gives no class names; set model.num_classes")
    return list(names or [str(i) for i in range(int(count))])


class Predictor:
    """``Predictor(run_dir)(samples)`` → one :class:`Prediction` per sample, through the run's own test pipeline.

    Exactly ``fusion eval``'s path: the recipe's test transforms seeded by (seed, clip, index), the
    modality converters, the model in eval mode; with ``eval.clips`` > 1 the softmax is averaged
    over that many differently seeded passes (PYSKL multi-clip testing).
    """

    def __init__(self, run_dir: str | Path, checkpoint: str | None = None, trust_plugins: bool = False,
                 clips: int | None = None):
        self.run_dir = Path(run_dir)
        exported = None
        if self.run_dir.is_file():  # an exported model: its recipe and classes were written beside it
            from fusion.export import ExportedClassifier, load_exported

            exported = load_exported(self.run_dir)
            if not exported.recipe_file.is_file():
                raise FusionError(f"{self.run_dir}: no {exported.recipe_file.name} beside it (fusion export writes the run's "
                                  "recipe there; copy it, and the .json, with the exported file)")
            recipe = read_run_recipe(self.run_dir.parent, (), trust_plugins, recipe_file=exported.recipe_file)
        else:
            recipe = read_run_recipe(self.run_dir, (), trust_plugins)
        recipe["model"]["init"] = None  # the run's own weights replace any earlier stage's
        self.recipe = recipe
        self.registry = registry_for(recipe)
        self.modalities = modalities_of(recipe)
        self.transforms = build_transforms(recipe, self.registry, "test")
        self.converters = {m: self.registry.get("modality", m).factory for m in self.modalities}
        if exported is not None:
            self.class_names, self.checkpoint = exported.class_names, self.run_dir
            self.model = ExportedClassifier(exported)
        else:
            self.class_names = _class_names(self.run_dir, recipe, self.registry)
            which = checkpoint or recipe["eval"]["checkpoint"]
            path = ckpt.find_checkpoint(self.run_dir, which) or ckpt.find_checkpoint(self.run_dir, "last")
            if path is None:
                raise FusionError(f"{self.run_dir}: no complete checkpoint to predict with")
            self.checkpoint = path
            torch.manual_seed(recipe["train"]["seed"])
            module = build_train_module(recipe, self.registry, len(self.class_names))
            load_weights(module, path)
            self.model = module.model.eval()
        self.seed = int(recipe["train"]["seed"])
        self.clips = int(clips or recipe["eval"]["clips"])
        args = {**_factory_defaults(self.registry, recipe["data"]["dataset"]["name"]),
                **(recipe["data"]["dataset"].get("args") or {})}
        self.frames = args.get("num_frames")  # the reader's frame sampling, applied to a user's file too
        self.max_bodies = int(args.get("max_bodies") or args.get("num_person_out") or 2)
        self.points = int(args.get("points") or 2048)

    def pose_layout(self) -> str:
        """The 2D joint layout the run's pose encoder was built for (``coco17`` when not stated)."""
        for modality in ("pose2d", "skeleton"):
            block = self.recipe["model"]["encoders"].get(modality) or {}
            if (block.get("args") or {}).get("layout"):
                return str(block["args"]["layout"])
        return "coco17"

    def missing(self, sample: dict) -> list[str]:
        return [m for m in self.modalities if sample.get(m) is None]

    @torch.no_grad()
    def __call__(self, samples: list[dict]) -> list[Prediction]:
        """Predict every sample (one batch per call; each sample is timed as a share of the batch)."""
        for sample in samples:
            lacking = self.missing(sample)
            if lacking:
                meta = sample.get("meta") or {}
                raise DataError(f"{meta.get('source', meta.get('id', 'input'))}: gives {_present(sample)}, but the run "
                                f"also reads {', '.join(lacking)}; pass a file for each (files of one sample share "
                                "a name, e.g. S001C001P001R001A001.skeleton and S001C001P001R001A001_rgb.avi)")
        dataset = RecipeDataset(SampleList(samples), self.modalities, self.transforms, seed=self.seed)
        total, seconds = None, {"transform": 0.0, "model": 0.0}
        for clip in range(self.clips):
            dataset.set_epoch(clip)
            start = time.perf_counter()
            items = [dataset[i] for i in range(len(dataset))]
            collator = Collator(self.converters)
            batch = collator(items)
            seconds["transform"] += time.perf_counter() - start
            start = time.perf_counter()
            logits = self.model(batch).logits.float()
            seconds["model"] += time.perf_counter() - start
            probabilities = logits.softmax(-1)
            total = probabilities if total is None else total + probabilities
        probabilities = (total / self.clips).numpy()
        share = {k: v / max(len(samples), 1) for k, v in seconds.items()}
        return [Prediction(str((s.get("meta") or {}).get("id", f"#{i}")), probabilities[i], self.class_names,
                           dict(share), dict(s.get("meta") or {})) for i, s in enumerate(samples)]


def _factory_defaults(registry, dataset: str) -> dict:
    """The dataset factory's own defaults (frames, persons, points), so predict samples a file as the reader did."""
    import inspect

    try:
        parameters = inspect.signature(registry.get("dataset", dataset).factory).parameters.values()
    except (FusionError, TypeError, ValueError):
        return {}
    return {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}


def _present(sample: dict) -> str:
    found = [k for k, v in sample.items() if k not in ("label", "meta", "index") and v is not None]
    return ", ".join(found) or "no modality"

"""The parts every official checkpoint format shares: safe reading, container unwrapping, renaming.

A format is a table of ordered regular-expression renames from official names to Fusion names
(``model.encoders.<modality>...``, ``model.head...``, ``objective...``) plus, where the layouts
differ, a per-tensor transform. Renamed names the model does not have are reported as unused by
:func:`fusion.convert.convert_into`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from fusion.errors import DataError
from fusion.types import Conversion
from fusion_plugins.formats.safe_pickle import load_torch_checkpoint

#: ``(pattern, replacement)``: applied in order with ``re.sub`` (a replacement may be a function of the match).
Rule = tuple[str, str | Callable[[re.Match], str]]
#: ``(fusion name, tensor) -> tensor``: a layout change (e.g. a Conv2d patch embedding as a Linear).
Transform = Callable[[str, torch.Tensor], torch.Tensor]


def shift(group: int, prefix: str, by: int = -1) -> Callable[[re.Match], str]:
    """A replacement renumbering a 1-based block (``l3.`` -> ``blocks.2.``)."""
    return lambda m: f"{prefix}{int(m[group]) + by}."


def read_state(source: str, at: Sequence[Sequence[str]]) -> dict[str, torch.Tensor]:
    """The tensor dict inside the official container: the first path of ``at`` that exists (``()``: the object).

    ``module.`` prefixes (DataParallel) are removed as the official loaders do.
    """
    obj = load_torch_checkpoint(source)
    for path in at:
        node = obj
        for key in path:
            node = node.get(key) if isinstance(node, Mapping) else None
        if isinstance(node, Mapping) and node and all(isinstance(v, torch.Tensor) for v in node.values()):
            return {_strip_module(str(k)): v for k, v in node.items()}
    found = sorted(obj) if isinstance(obj, Mapping) else type(obj).__name__
    wanted = " or ".join(repr(list(p)) if p else "the top level" for p in at)
    raise DataError(f"{source}: no tensor dictionary at {wanted} (the file holds {found}); is it the right format?")


def _strip_module(key: str) -> str:
    return key.replace("module.", "") if key.startswith("module.") or ".module." in key else key


@dataclass(frozen=True)
class RenameFormat:
    """A checkpoint format as data: where the tensors are, how names map, which tensors change layout."""

    at: tuple[tuple[str, ...], ...]
    rules: tuple[Rule, ...]
    drop: tuple[str, ...] = ()
    transforms: Mapping[str, Transform] = field(default_factory=dict)

    def rename(self, name: str) -> str:
        for pattern, replacement in self.rules:
            name = re.sub(pattern, replacement, name)
        return name

    def __call__(self, source: str, target: Mapping[str, tuple[int, ...]]) -> Conversion:
        tensors: dict[str, tuple[str, torch.Tensor]] = {}
        unused: list[str] = []
        for official, tensor in read_state(source, self.at).items():
            if any(re.search(p, official) for p in self.drop):
                unused.append(official)
                continue
            name = self.rename(official)
            for pattern, transform in self.transforms.items():
                if re.search(pattern, name):
                    tensor = transform(name, tensor)
            if name in tensors:
                unused.append(official)  # two official tensors for one Fusion tensor: the first wins
                continue
            tensors[name] = (official, tensor)
        return Conversion(tensors, unused)

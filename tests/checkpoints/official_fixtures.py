"""Rebuild official checkpoints from the fixture rules (torch + json + safetensors only) and run them through Fusion.

The fixtures in ``fixtures/<model>/`` are copied verbatim from the project's shared official-checkpoint
fixtures (``fixtures/README.md`` describes them): per model, the official state-dict entries with a
seeded value rule, the container ``torch.save`` received in the official training script, the input
rule and the outputs the OFFICIAL code computed (float64 and float32). Nothing here imports or copies
official code: :func:`regenerate` implements the documented rule and :func:`build_container` the
documented container, so the file written is the one the official script would have written.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

FIXTURES = Path(__file__).parent / "fixtures"
DTYPES = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64}


def spec(model: str, name: str = "checkpoint.json") -> dict:
    return json.loads((FIXTURES / model / name).read_text())


def regenerate(spec: dict, constants: dict[str, torch.Tensor]) -> tuple[collections.OrderedDict, str]:
    """The state dict a fixture describes (official order) and its sha256 over names and bytes."""
    state: collections.OrderedDict[str, torch.Tensor] = collections.OrderedDict()
    digest = hashlib.sha256()
    for entry in spec["entries"]:
        shape, dtype, rule = list(entry["shape"]), DTYPES[entry["dtype"]], entry["rule"]
        if rule == "fill":
            value = torch.full(shape, entry["value"], dtype=dtype)
        elif rule == "constant":
            value = constants[entry["name"]].clone()
        else:
            gen = torch.Generator().manual_seed(spec["seed"] + entry["i"])
            z = torch.randn(shape, generator=gen, dtype=torch.float64)
            z = z * entry["scale"]
            value = (z.abs() if rule == "randn_abs" else z) + entry["offset"]
            value = value.to(dtype)
        state[entry["name"]] = value
        digest.update(entry["name"].encode())
        digest.update(value.contiguous().numpy().tobytes())
    return state, digest.hexdigest()


def _python(value: object, python_type: str) -> object:
    if python_type == "argparse.Namespace":
        return argparse.Namespace(**value)
    return value


def build_container(container: dict, state: collections.OrderedDict) -> object:
    """The object the official script passes to ``torch.save`` (stand-ins for the non-tensor parts)."""
    if container["top_level"] is None:
        return state
    return {item["key"]: state if item["value"] == "<STATE_DICT>" else _python(item["value"], item["python_type"])
            for item in container["top_level"]}


def write_official(model: str, path: Path, extra: str | None = None, keep: tuple[str, ...] = ()) -> Path:
    """Write ``model``'s checkpoint as the official script would; check its sha256 first.

    ``extra`` appends a head JSON's entries (a linear-evaluation checkpoint); ``keep`` keeps only names with
    those prefixes (that run's state dict holds the encoder and its head only).
    """
    checkpoint = spec(model)
    constants_file = FIXTURES / model / "constants.safetensors"
    state, sha = regenerate(checkpoint, load_file(str(constants_file)))
    assert sha == checkpoint["sha256"], f"{model}: regenerated tensors differ from the fixture (torch build?)"
    if extra:
        head = spec(model, extra)
        head_state, head_sha = regenerate(head, {})
        assert head_sha == head["sha256"]
        if keep:
            state = collections.OrderedDict((k, v) for k, v in state.items() if k.startswith(keep))
        state.update(head_state)
    torch.save(build_container(checkpoint["container"], state), path)
    return path


def official_input(model: str, dtype: torch.dtype) -> torch.Tensor:
    """The fixture input in the official layout, as float64 (checked) then cast to ``dtype``."""
    rule = spec(model, "input.json")
    x64 = torch.randn(rule["shape"], generator=torch.Generator().manual_seed(rule["seed"]), dtype=torch.float64)
    assert hashlib.sha256(x64.contiguous().numpy().tobytes()).hexdigest() == rule["sha256"]
    return x64.to(dtype)


def expected(model: str, output: str, dtype: torch.dtype) -> torch.Tensor:
    suffix = "fp64" if dtype == torch.float64 else "fp32"
    return load_file(str(FIXTURES / model / "expected.safetensors"))[f"{output}_{suffix}"]


def relative_error(actual: torch.Tensor, wanted: torch.Tensor) -> float:
    """max |actual - wanted| / max |wanted| (the fixtures' tolerance scale)."""
    return float((actual.double() - wanted.double()).abs().max() / wanted.double().abs().max().clamp_min(1e-300))

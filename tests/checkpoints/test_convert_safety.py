"""Foreign checkpoints never run code, and every refusal is one sentence naming the file, type or tensor."""

from __future__ import annotations

import argparse
import collections
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from fusion.cli import main
from fusion.errors import FusionError
from fusion.recipe import load_recipe
from fusion.registry import get_registry
from fusion.train.build import build_train_module, registry_for
from fusion_plugins.formats.safe_pickle import load_torch_checkpoint

ROOT = Path(__file__).resolve().parents[2]
CTRGCN = ROOT / "recipes/ntu60/ctrgcn_xsub.yaml"
FORMATS = sorted(get_registry().names("checkpoint_format"))


class _Exploit:
    """Unpickling this calls os.system: what a crafted checkpoint does to ``torch.load(weights_only=False)``."""

    def __reduce__(self):
        return os.system, ("touch /tmp/fusion-pwned",)


def _small_ctrgcn_state() -> collections.OrderedDict:
    return collections.OrderedDict([("data_bn.weight", torch.ones(150)), ("fc.bias", torch.zeros(60))])


@pytest.fixture(scope="module")
def crafted(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("crafted")
    files = {}
    for where in ("top", "state_dict", "model"):
        state = _small_ctrgcn_state()
        state["evil"] = _Exploit()
        obj = state if where == "top" else {where: state, "args": argparse.Namespace(lr=0.1)}
        torch.save(obj, folder / f"{where}.pth")
        files[where] = folder / f"{where}.pth"
    return files


@pytest.mark.parametrize("name", FORMATS)
def test_every_format_refuses_a_code_running_reduce(crafted, tmp_path, name):
    marker = Path("/tmp/fusion-pwned")
    marker.unlink(missing_ok=True)
    spec = get_registry().get("checkpoint_format", name)
    for path in crafted.values():
        with pytest.raises(FusionError, match=r"refusing to load global (posix|os|nt)\.system") as info:
            spec.factory(str(path), {})
        assert "\n" not in str(info.value)
    assert not marker.exists()


def test_reader_keeps_the_types_official_checkpoints_hold(tmp_path):
    """Namespace, OrderedDict, numpy values, int64 / float32 tensors, views and a pre-1.6 file all come back."""
    import numpy as np

    state = collections.OrderedDict(w=torch.randn(4, 5)[:, 1:3], n=torch.tensor(1000), e=torch.zeros(0))
    obj = {"state_dict": state, "args": argparse.Namespace(betas=(0.9, 0.95), lr=1e-3),
           "meta": {"epoch": 3, "np": np.float64(0.5), "arr": np.arange(3)}}
    for legacy in (False, True):
        torch.save(obj, tmp_path / "c.pth", _use_new_zipfile_serialization=not legacy)
        back = load_torch_checkpoint(tmp_path / "c.pth")
        assert back["args"] == obj["args"] and back["meta"]["np"] == 0.5
        assert all(torch.equal(back["state_dict"][k], v) for k, v in state.items())


def test_other_globals_are_refused_naming_the_type(tmp_path):
    torch.save({"state_dict": {"w": torch.zeros(1)}, "when": __import__("datetime").date(2024, 1, 1)}, tmp_path / "d.pth")
    with pytest.raises(FusionError, match=r"refusing to load global datetime\.date"):
        load_torch_checkpoint(tmp_path / "d.pth")


@pytest.mark.parametrize("content", ["truncated", "text", "safetensors", "empty"])
def test_fusion_convert_on_a_bad_file_prints_one_sentence(tmp_path, capsys, content):
    path = tmp_path / "bad.pth"
    if content == "truncated":
        torch.save(_small_ctrgcn_state(), path)
        path.write_bytes(path.read_bytes()[:300])
    elif content == "text":
        path.write_text("not a checkpoint\n")
    elif content == "safetensors":
        from safetensors.torch import save_file

        save_file({"w": torch.zeros(2)}, str(path))
    else:
        path.write_bytes(b"")
    code = main(["convert", "ctrgcn", str(path), "--recipe", str(CTRGCN), "--out", str(tmp_path / "w.safetensors"),
                 "model.num_classes=60"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert str(path) in err and "not a readable PyTorch checkpoint" in err


def test_shape_mismatch_is_refused_naming_both_tensors(tmp_path, capsys):
    state = _small_ctrgcn_state()
    state["l1.gcn1.PA"] = torch.zeros(3, 18, 18)  # a checkpoint for another graph
    torch.save(state, tmp_path / "other.pt")
    code = main(["convert", "ctrgcn", str(tmp_path / "other.pt"), "--recipe", str(CTRGCN),
                 "--out", str(tmp_path / "w.safetensors"), "model.num_classes=60"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0
    assert "l1.gcn1.PA" in err and "model.encoders.skeleton.blocks.0.gcn.PA" in err and "(3, 18, 18)" in err


def test_partial_checkpoint_reports_unused_and_unfilled(tmp_path, capsys):
    state = _small_ctrgcn_state()
    state["extra.thing"] = torch.zeros(2)
    torch.save(state, tmp_path / "part.pt")
    assert main(["convert", "ctrgcn", str(tmp_path / "part.pt"), "--recipe", str(CTRGCN),
                 "--out", str(tmp_path / "w.safetensors"), "model.num_classes=60"]) == 0
    out = capsys.readouterr().out
    assert "unused official tensor: extra.thing" in out
    assert "not filled (keeps its initialisation): model.encoders.skeleton.blocks.0.gcn.PA" in out
    assert set(load_file(str(tmp_path / "w.safetensors"))) == {"model.encoders.skeleton.data_bn.bn.weight",
                                                                 "model.head.fc.bias"}


def test_model_init_format_converts_in_memory_like_fusion_convert(tmp_path):
    state = _small_ctrgcn_state()
    state["data_bn.weight"] = torch.arange(150.0)
    torch.save(state, tmp_path / "ctrgcn.pt")
    init = f"model.init={{checkpoint: '{tmp_path / 'ctrgcn.pt'}', format: ctrgcn}}"
    recipe = load_recipe(CTRGCN, ["model.num_classes=60", init])
    module = build_train_module(recipe, registry_for(recipe), 60)
    assert torch.equal(module.model.encoders["skeleton"].data_bn.bn.weight.detach(), torch.arange(150.0))


@pytest.mark.parametrize("init,message", [
    ("{checkpoint: x.pt, format: ctrgnc}", r"model\.init\.format: unknown checkpoint_format 'ctrgnc'.*did you mean 'ctrgcn'"),
    ("{checkpoint: x.pt, formats: ctrgcn}", r"model\.init: unknown key 'formats'"),
    ("{checkpoint: x.pt, format: ctrgcn, which: best}", r"model\.init\.which"),
    ("{format: ctrgcn}", r"model\.init\.checkpoint: expected a path"),
    ("{checkpoint: runs/x, which: first}", r"model\.init\.which: 'first'"),
    ("[{checkpoint: runs/x, exclude: model.head.}]", r"model\.init\[0\]\.exclude: expected a list"),
])
def test_model_init_is_validated_at_recipe_load(init, message):
    with pytest.raises(FusionError, match=message):
        load_recipe(CTRGCN, [f"model.init={init}"], registry=get_registry())


def _official_ctrgcn(path: Path, classes: int) -> Path:
    """CTR-GCN's fixture checkpoint (fixtures/ctrgcn) with a ``classes``-way classifier."""
    from official_fixtures import regenerate, spec

    state, _ = regenerate(spec("ctrgcn"), {})
    state["fc.weight"] = torch.randn(classes, 256, generator=torch.Generator().manual_seed(0)) * 0.06
    state["fc.bias"] = torch.zeros(classes)
    torch.save(state, path)
    return path


def test_convert_run_is_a_complete_run_with_the_converted_weights(tmp_path):
    from fusion.convert import build_target
    from fusion.train.eval_run import load_weights

    source = _official_ctrgcn(tmp_path / "ctrgcn.pt", 60)
    run = tmp_path / "run"
    assert main(["convert", "ctrgcn", str(source), "--recipe", str(CTRGCN), "--out", str(tmp_path / "w.safetensors"),
                 "--run", str(run), "model.num_classes=60"]) == 0
    module, _, _ = build_target(run / "recipe.yaml")
    load_weights(module, run / "checkpoints" / "last")  # every tensor present, none unexpected
    weights = load_file(str(tmp_path / "w.safetensors"))
    assert torch.equal(module.state_dict()["model.head.fc.weight"], weights["model.head.fc.weight"])
    assert main(["convert", "ctrgcn", str(source), "--recipe", str(CTRGCN), "--out", str(tmp_path / "w.safetensors"),
                 "--run", str(run), "model.num_classes=60"]) == 2  # never over an existing run


@pytest.mark.slow
def test_fusion_eval_measures_a_converted_run(tmp_path, capsys):
    source = _official_ctrgcn(tmp_path / "ctrgcn.pt", 12)
    data = ("data.dataset={name: synthact, args: {subjects: 2, classes: 12, frames: 64, repetitions: 1, "
            "second_person: true, modalities: [skeleton]}}")
    run = tmp_path / "run"
    assert main(["convert", "ctrgcn", str(source), "--recipe", str(CTRGCN), "--out", str(tmp_path / "w.safetensors"),
                 "--run", str(run), "model.num_classes=12", data]) == 0
    assert main(["eval", str(run)]) == 0
    assert "top-1" in capsys.readouterr().out


def test_mmengine_message_hub_buffers_load_as_inert_records(tmp_path, monkeypatch):
    """MMAction2 1.x checkpoints log training in mmengine HistoryBuffers: read as data, the class never imported."""
    import sys
    import types

    import numpy as np

    fake = types.ModuleType("mmengine.logging.history_buffer")

    class HistoryBuffer:
        def __init__(self):
            self._log_history, self._count_history, self.max_length = np.arange(3.0), np.ones(3), 1000000

    HistoryBuffer.__module__, HistoryBuffer.__qualname__ = fake.__name__, "HistoryBuffer"
    fake.HistoryBuffer = HistoryBuffer
    for parent in ("mmengine", "mmengine.logging"):
        monkeypatch.setitem(sys.modules, parent, types.ModuleType(parent))
    monkeypatch.setitem(sys.modules, fake.__name__, fake)
    obj = {"state_dict": {"backbone.data_bn.weight": torch.ones(75)},
           "message_hub": {"log_scalars": {"train/loss": HistoryBuffer()}, "runtime_info": {"epoch": 16}}}
    torch.save(obj, tmp_path / "mmaction2.pth")
    for name in (fake.__name__, "mmengine.logging", "mmengine"):
        monkeypatch.delitem(sys.modules, name)
    back = load_torch_checkpoint(tmp_path / "mmaction2.pth")
    record = back["message_hub"]["log_scalars"]["train/loss"]
    assert type(record).__module__ == "fusion_plugins.formats.safe_pickle" and record.state["max_length"] == 1000000

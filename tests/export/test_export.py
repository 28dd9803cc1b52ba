"""``fusion export``: every format is parity-checked against PyTorch before it is written.

Models are built from the shipped SynthAct recipes on a tiny SynthAct configuration, with every
all-zero parameter (e.g. a freshly initialised classifier) re-drawn so that parity checks compare
real numbers, not zeros.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from fusion.errors import FusionError
from fusion.export import ExportParityError, export_model, load_exported
from fusion.export.from_run import first_samples
from fusion.export.graph import time_axis
from fusion.recipe import load_recipe
from fusion.train.build import build_all

TINY = ["data.dataset.args.subjects=6", "data.dataset.args.classes=4", "data.dataset.args.repetitions=1"]
ROOT = __import__("pathlib").Path(__file__).parents[2]


def built_model(recipe: str, *overrides: str):
    recipe = load_recipe(ROOT / recipe, [*TINY, *overrides])
    recipe["model"]["init"] = None  # a fine-tuning recipe's pre-trained stage is not needed for parity
    built = build_all(recipe)
    model = built.module.model.eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() and float(p.abs().max()) == 0:
                p.copy_(torch.randn(p.shape, generator=generator) * 0.1)
    batch = built.collator(first_samples(built.test_set, 2))
    axes = {m: time_axis(built.registry.get("modality", m).batch_layout) for m in model.modalities}
    return model, batch, axes


def check(tmp_path, recipe, fmt, *overrides, dynamic_frames=True):
    model, batch, axes = built_model(recipe, *overrides)
    suffix = {"onnx": ".onnx", "exported-program": ".pt2", "torchscript": ".ts"}[fmt]
    result = export_model(model, batch, fmt, tmp_path / f"m{suffix}", time_axes=axes, dynamic_frames=dynamic_frames)
    assert result.path.is_file()
    assert set(result.parity) >= {"real inputs", "random inputs", "batch of 3"}
    assert all(d["relative"] <= 1e-4 for d in result.parity.values()), result.parity
    # the written file, loaded as a user would, still agrees on a fresh input
    exported = load_exported(result.path)
    wrapper_inputs = tuple(batch[m] for m in model.modalities)
    mask = torch.stack([batch["mask"][m] for m in model.modalities], 1)
    with torch.no_grad():
        reference = model({**batch}).logits
    assert torch.allclose(exported(*wrapper_inputs, mask), reference, rtol=1e-4, atol=1e-5)
    assert float(reference.abs().max()) > 1e-3  # a real comparison, not of zeros
    meta = json.loads((tmp_path / f"m{suffix}.json").read_text())
    assert meta["modalities"] == model.modalities and meta["format"] == fmt
    return result


@pytest.mark.parametrize("fmt", ["onnx", "exported-program", "torchscript"])
def test_skeleton_gcn_every_format_with_dynamic_frames(tmp_path, fmt):
    result = check(tmp_path, "recipes/synthact/quickstart.yaml", fmt)
    assert "twice the frames" in result.parity


@pytest.mark.slow
@pytest.mark.parametrize(
    "recipe, overrides",
    [
        ("recipes/synthact/skeleton_ctrgcn.yaml", ()),
        ("recipes/synthact/ssl/stars_tune.yaml", ()),
        ("recipes/synthact/rgb.yaml", ()),
        ("recipes/synthact/rgb.yaml", ("model.encoders.rgb={name: xshiftnet_rgb, args: {base_channels: 8, "
                                       "stage_blocks: [1, 1, 1, 1], frame_difference: true}}",)),
        ("recipes/synthact/late.yaml", ()),
        ("recipes/synthact/mmixer.yaml", ()),
    ],
    ids=["ctrgcn", "skeleton_transformer", "x3d", "xshiftnet", "late", "mmixer"],
)
def test_listed_models_onnx_parity(tmp_path, recipe, overrides):
    check(tmp_path, recipe, "onnx", *overrides, dynamic_frames=False)


def test_a_disagreeing_export_is_not_written(tmp_path, monkeypatch):
    """A runtime that computes something else must leave no file behind."""
    import fusion.export.exporter as exporter

    model, batch, axes = built_model("recipes/synthact/quickstart.yaml")
    real_load = exporter.load_exported

    def off_by_a_bit(path):
        loaded = real_load(path)
        run = loaded.run
        loaded.run = lambda *x: run(*x) * 1.01
        return loaded

    monkeypatch.setattr(exporter, "load_exported", off_by_a_bit)
    with pytest.raises(ExportParityError, match=r"not written.*differs from PyTorch on .* by 1\.0\de-02 relative"):
        export_model(model, batch, "torchscript", tmp_path / "m.ts", time_axes=axes)
    assert list(tmp_path.iterdir()) == []


def test_wrong_suffix_and_format_are_one_sentence(tmp_path):
    model, batch, axes = built_model("recipes/synthact/quickstart.yaml")
    with pytest.raises(FusionError, match=r"m\.onnx: a torchscript export must end in \.ts"):
        export_model(model, batch, "torchscript", tmp_path / "m.onnx", time_axes=axes)
    with pytest.raises(FusionError, match="--format must be one of onnx, exported-program, torchscript"):
        export_model(model, batch, "tflite", tmp_path / "m.tflite", time_axes=axes)


def test_load_exported_refuses_damaged_and_unknown_files(tmp_path):
    (tmp_path / "m.onnx").write_bytes(b"\x08\x01garbage")
    with pytest.raises(FusionError, match=r"m\.onnx: cannot load this onnx file"):
        load_exported(tmp_path / "m.onnx")
    (tmp_path / "m.bin").write_bytes(b"x")
    with pytest.raises(FusionError, match=r"m\.bin: not an exported model"):
        load_exported(tmp_path / "m.bin")


def test_cli_exports_a_trained_run(tmp_path):
    """``fusion train`` a tiny run, then ``fusion export`` it: parity printed, file and sidecar written."""
    run = tmp_path / "run"
    env = {**__import__("os").environ, "OMP_NUM_THREADS": "1"}
    train = [sys.executable, "-m", "fusion", "train", str(ROOT / "recipes/synthact/quickstart.yaml"), "--out", str(run),
             *TINY, "train.epochs=2"]
    subprocess.run(train, check=True, capture_output=True, env=env, cwd=tmp_path)
    done = subprocess.run([sys.executable, "-m", "fusion", "export", str(run), "--format", "torchscript",
                           "--dynamic-frames"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "real inputs: max abs" in done.stdout and "twice the frames" in done.stdout
    meta = json.loads((run / "export" / "model.ts.json").read_text())
    assert meta["class_names"] and meta["checkpoint"] and meta["dynamic_axes"]["skeleton"] == {"0": "batch", "2": "frames"}
    bad = subprocess.run([sys.executable, "-m", "fusion", "export", str(tmp_path / "nowhere")], capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "nowhere" in bad.stderr


@pytest.mark.parametrize("frames", [2, 3, 9])
def test_xshiftnet_time_gradient_is_torch_gradient_bit_for_bit(frames):
    from fusion_plugins.rgb.encoders.xshiftnet import time_gradient

    for dtype in (torch.float32, torch.float64):
        x = torch.randn(2, 3, frames, 4, 4, dtype=dtype)
        assert torch.equal(time_gradient(x), torch.gradient(x, dim=2)[0])


@pytest.mark.slow
def test_ctrgcn_exported_program_loads_back(tmp_path):
    """CTR-GCN's merged temporal branches once split a tensor into zero pieces, which torch.export writes
    but cannot read back."""
    check(tmp_path, "recipes/synthact/skeleton_ctrgcn.yaml", "exported-program")


def test_predict_on_an_export_without_its_recipe_is_one_sentence(tmp_path):
    """An exported file copied without the run's recipe beside it cannot apply the test transforms."""
    from fusion.predict.predictor import Predictor

    model, batch, axes = built_model("recipes/synthact/quickstart.yaml")
    export_model(model, batch, "torchscript", tmp_path / "m.ts", time_axes=axes)
    with pytest.raises(FusionError, match=r"m\.ts: no m\.ts\.recipe\.yaml beside it"):
        Predictor(tmp_path / "m.ts")

"""Official checkpoints -> ``fusion convert`` -> Fusion model == the official code's outputs.

For each of the nine fixture folders (``fixtures/``, copied from the shared official-checkpoint
fixtures; ``official_fixtures.py`` says what they hold): the checkpoint is rebuilt in its original container
and written with ``torch.save`` as the official script does, converted by ``fusion.convert.convert_file``
(the code behind ``fusion convert``), loaded through ``model.init`` into the model of the paper
recipe, and run on the fixture input. Tolerances (relative to max |expected|): float64 1e-10
(Hyper-GCN 1e-8: the official ``torch.cdist`` rounding, see its README), float32 1e-5. The float64 runs of
the MAMP and HaLP fixtures are slow on a CPU (``-m slow``); their float32 runs stay in the default suite.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from official_fixtures import expected, official_input, relative_error, write_official

from fusion.convert import convert_file
from fusion.recipe import load_recipe
from fusion.train.build import build_train_module, registry_for

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Case:
    fixture: str
    format: str
    recipe: str
    outputs: tuple[str, ...]
    overrides: tuple[str, ...] = ("model.num_classes=60",)
    pyskl: bool = False  # input given as (N, M, T, V, C)
    head: str | None = None  # a head JSON: the linear-evaluation checkpoint
    keep: tuple[str, ...] = ()
    tol64: float = 1e-10
    dtypes: tuple[torch.dtype, ...] = (torch.float64, torch.float32)


CASES = {
    "ctrgcn": Case("ctrgcn", "ctrgcn", "recipes/ntu60/ctrgcn_xsub.yaml", ("logits", "features")),
    "hypergcn_base": Case("hypergcn_base", "hypergcn", "recipes/ntu60/hypergcn_base_xsub.yaml", ("logits", "features"),
                          tol64=1e-8),
    "psumnet_body": Case("psumnet_body", "psumnet", "recipes/ntu60/psumnet_body_xsub.yaml", ("logits", "features")),
    "stgcnpp_pyskl": Case("stgcnpp_pyskl", "pyskl_stgcnpp", "recipes/ntu60/stgcnpp_xsub.yaml",
                          ("logits", "features", "test_scores"), pyskl=True),
    "stgcn_pyskl": Case("stgcn_pyskl", "pyskl_stgcn", "recipes/ntu60/stgcn_pyskl_xsub.yaml",
                        ("logits", "features", "test_scores"), pyskl=True),
    "brl": Case("brl", "brl", "recipes/ntu_lt/brl_ntu60_xsub_lt_j.yaml", ("logits", "features", "test_scores"),
                pyskl=True),
    "mamp_finetune_encoder": Case("mamp_pretrain", "mamp", "recipes/ntu60/mamp_finetune_xsub.yaml",
                                  ("encoder_tokens_tsel", "encoder_tokens_mean_t")),
    "mamp_linear_probe": Case("mamp_pretrain", "mamp", "recipes/ntu60/mamp_linear_xsub.yaml",
                              ("encoder_feature", "linprobe_feature", "linprobe_logits"), head="linprobe_head.json",
                              keep=("temp_embed", "pos_embed", "joints_embed.", "blocks.", "norm.")),
    "stars_linear_probe": Case("mamp_pretrain", "stars", "recipes/ntu60/stars_linear_xsub.yaml",
                               ("encoder_feature", "linprobe_logits"), head="linprobe_head.json",
                               keep=("temp_embed", "pos_embed", "joints_embed.", "blocks.", "norm."),
                               dtypes=(torch.float32,)),
    "hiclr_pretrain": Case("hiclr", "hiclr", "recipes/ntu60/hiclr_pretrain_xsub.yaml",
                           ("pretrain_query", "pretrain_query_prenorm", "pretrain_features")),
    "hiclr_linear": Case("hiclr", "hiclr", "recipes/ntu60/hiclr_linear_xsub.yaml", ("linear_logits", "linear_features"),
                         head="linear_head.json", keep=("encoder_q.",)),
    "halp": Case("halp", "halp", "recipes/ntu60/halp_pretrain_xsub.yaml", ("features", "query_prenorm", "query")),
}


def _run(case: Case, module: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every output the fixture names, computed by the Fusion modules."""
    model = module.model
    encoder = model.encoders["skeleton"]
    batch = {"skeleton": x, "mask": {"skeleton": torch.ones(x.shape[0], dtype=torch.bool)}}
    tokens_only = all(name.startswith("encoder_tokens") for name in case.outputs)
    with torch.no_grad():
        out = model(batch) if not tokens_only else None
        pooled = out.features["skeleton"].pooled if out is not None else None
        got = {} if out is None else {"logits": out.logits, "features": pooled, "linear_logits": out.logits, "linear_features": pooled,
               "linprobe_logits": out.logits, "encoder_feature": pooled, "pretrain_features": pooled}
        if out is not None and out.logits is not None:
            got["test_scores"] = F.softmax(out.logits, dim=1)
        if out is not None and hasattr(model.head, "norm"):  # the linear probe's input
            got["linprobe_feature"] = pooled
        if out is not None and hasattr(module.objective, "head"):  # MoCo projector: the query before / after normalisation
            prenorm = module.objective.head(pooled)
            got.update(pretrain_query_prenorm=prenorm, query_prenorm=prenorm,
                       pretrain_query=F.normalize(prenorm, dim=1), query=F.normalize(prenorm, dim=1))
        if any(name.startswith("encoder_tokens") for name in case.outputs):  # MAMP tokens (N, M, T', V, D)
            n, m = x.shape[0], x.shape[4]
            tokens = encoder.embed(encoder.patchify(encoder.fold_persons(x)))
            steps, v, d = tokens.shape[1:]
            tokens = encoder.forward_tokens(tokens.reshape(n * m, steps * v, d)).reshape(n, m, steps, v, d)
            got.update(encoder_tokens_tsel=tokens[:, :, [0, steps - 1]], encoder_tokens_mean_t=tokens.mean(2))
    return got


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """case name -> (the converted TrainModule in float32, the conversion report); built once per case."""
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            case = CASES[name]
            folder = tmp_path_factory.mktemp(name)
            source = write_official(case.fixture, folder / "official.pth", case.head, case.keep)
            weights = folder / "fusion.safetensors"
            report = convert_file(case.format, source, ROOT / case.recipe, weights, case.overrides)
            recipe = load_recipe(ROOT / case.recipe, [*case.overrides, f"model.init={{checkpoint: '{weights}'}}"])
            module = build_train_module(recipe, registry_for(recipe), int(recipe["model"]["num_classes"] or 60))
            cache[name] = (module.eval(), report)
        return cache[name]

    return get


def _params():
    for name, case in CASES.items():
        for dtype in case.dtypes:
            # float64 transformer / BiGRU passes take tens of seconds on a busy CPU: the slow suite has them,
            # the default suite keeps their float32 runs
            slow = dtype == torch.float64 and case.fixture in ("halp", "mamp_pretrain")
            marks = [pytest.mark.slow] if slow else []
            yield pytest.param(name, dtype, id=f"{name}-{str(dtype)[6:]}", marks=marks)


@pytest.mark.parametrize("name,dtype", list(_params()))
def test_converted_model_matches_the_official_outputs(converted, name, dtype):
    case = CASES[name]
    module, report = converted(name)
    module = copy.deepcopy(module).to(dtype)
    x = official_input(case.fixture, dtype)
    if case.pyskl:  # (N, M, T, V, C) -> (N, C, T, V, M)
        x = x.permute(0, 4, 2, 3, 1).contiguous()
    got = _run(case, module, x)
    tolerance = case.tol64 if dtype == torch.float64 else 1e-5
    worst = 0.0
    for output in case.outputs:
        wanted = expected(case.fixture, output, dtype)
        assert got[output].shape == wanted.shape, f"{name}: {output} has shape {tuple(got[output].shape)}"
        error = relative_error(got[output], wanted)
        worst = max(worst, error)
        assert error <= tolerance, f"{name} {dtype}: {output} differs by {error:.2e} of its scale"
    print(f"\n{name} {str(dtype)[6:]}: max relative difference {worst:.2e}")  # pytest -s: the report table


def test_conversion_reports_unused_and_unfilled_names(converted):
    """HiCLR's MoCo checkpoint into the pre-training recipe: the key encoder is reported unused, the classifier
    (not in a pre-training checkpoint) unfilled; every model tensor of the encoder is filled."""
    _, report = converted("hiclr_pretrain")
    assert any(name.startswith("encoder_k.") for name in report.unused)
    assert "model.head.fc.weight" in report.unfilled
    assert not [n for n in report.unfilled if n.startswith("model.encoders.")]
    _, report = converted("ctrgcn")
    assert report.unused == [] and report.unfilled == []

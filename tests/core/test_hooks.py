"""Hooks behave like pytest's: a misspelled implementation is refused by name, ``fusion_recipe_loaded`` runs
once per command, ``eval.metrics`` reaches ``fusion_add_metrics``' factories, and every hookspec is documented."""

import copy
import inspect
import sys
import textwrap

import pytest

from fusion import hookspecs
from fusion.errors import RecipeError
from fusion.recipe import from_dict
from fusion.registry import build_registry, clear_cache
from fusion.train.build import registry_for
from fusion.train.trainer import Trainer


def write_plugin(tmp_path, name, body):
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))
    sys.path.insert(0, str(tmp_path))


def test_a_misspelled_hookimpl_is_refused_naming_plugin_and_hook(tmp_path):
    write_plugin(tmp_path, "typo_plugin", """
        from fusion import hookimpl

        @hookimpl
        def fusion_add_encoder():
            return []
    """)
    with pytest.warns(RuntimeWarning, match="typo_plugin"):
        registry = build_registry(["typo_plugin"], entry_points=False)
    assert [f.plugin for f in registry.failures] == ["typo_plugin"]
    message = str(registry.failures[0])
    assert "'fusion_add_encoder' is not a Fusion hook" in message and "did you mean 'fusion_add_encoders'" in message
    assert not registry.manager.has_plugin("typo_plugin")


def test_recipe_loaded_runs_once_and_metrics_reach_the_report(toy_recipe, tmp_path):
    write_plugin(tmp_path, "hook_probe_plugin", """
        from fusion import MetricSpec, hookimpl

        CALLS = []

        @hookimpl
        def fusion_recipe_loaded(recipe):
            CALLS.append(recipe.get("name"))

        def count(offset: int = 0):
            return lambda scores, labels: {"probe_count": int(len(labels)) + offset}

        @hookimpl
        def fusion_add_metrics():
            return [MetricSpec(name="probe_count", factory=count, doc="samples evaluated")]
    """)
    clear_cache()
    recipe = copy.deepcopy(toy_recipe)
    recipe["plugins"] = ["toy_plugin", "hook_probe_plugin"]
    recipe["train"]["epochs"] = 1
    recipe["eval"]["metrics"] = [{"name": "probe_count", "args": {"offset": 1000}}]
    recipe = from_dict(recipe)
    summary = Trainer(recipe, tmp_path / "run", progress=False).fit()
    import hook_probe_plugin

    assert hook_probe_plugin.CALLS == ["toy"]
    assert summary["test"]["metrics"] == {"probe_count": summary["test"]["count"] + 1000}
    bad = copy.deepcopy(recipe)
    bad["eval"]["metrics"] = [{"name": "probe_count", "args": {"offset": "many"}}]
    with pytest.raises(RecipeError, match=r"^eval.metrics\[0\].args.offset: expected int, got str 'many'$"):
        from_dict(bad, registry_for(bad))


@pytest.mark.parametrize("name", [n for n in dir(hookspecs) if n.startswith("fusion_")])
def test_every_hookspec_is_typed_and_documents_params_and_return(name):
    spec = getattr(hookspecs, name)
    doc = inspect.getdoc(spec) or ""
    params = inspect.signature(spec).parameters
    assert ":return:" in doc, f"{name}: state the return"
    for param in params:
        assert f":param {param}:" in doc, f"{name}: document {param}"
    assert spec.__annotations__.get("return") is not None and all(p in spec.__annotations__ for p in params)

import json
import textwrap

import pytest

from fusion.cli import main
from fusion.errors import RegistryError
from fusion.registry import build_registry, get_registry


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def write_module(folder, name, body):
    (folder / f"{name}.py").write_text(textwrap.dedent(body))


ENCODER_PLUGIN = """
from fusion import EncoderSpec, hookimpl
from toy_plugin import MLPEncoder

@hookimpl
def fusion_add_encoders():
    return [EncoderSpec(name="{name}", factory=MLPEncoder, modality="skeleton", doc="test encoder")]
"""


def test_builtins_are_listed_with_their_plugin(capsys):
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    found = {(r["kind"], r["name"]): r["plugin"] for r in rows}
    assert found[("mixer", "concat")] == "core"
    assert found[("mixer", "late")] == "core"
    assert found[("head", "linear")] == "core"
    assert found[("objective", "classify")] == "core"
    assert found[("modality", "skeleton")] == "skeleton"
    assert all({"kind", "name", "plugin", "doc"} <= set(r) for r in rows)


def test_list_one_kind_plural_accepted(capsys):
    assert main(["list", "mixers"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("mixers:") and "concat" in out and "modalities:" not in out and "heads:" not in out


def test_broken_plugin_is_reported_and_others_load(plugin_dir):
    write_module(plugin_dir, "broken_plugin", "raise RuntimeError('boom at import')\n")
    write_module(plugin_dir, "good_plugin", ENCODER_PLUGIN.format(name="good_encoder"))
    with pytest.warns(RuntimeWarning, match="broken_plugin"):
        registry = build_registry(["broken_plugin", "good_plugin"])
    assert [f.plugin for f in registry.failures] == ["broken_plugin"]
    assert "RuntimeError: boom at import" in registry.failures[0].error
    assert registry.get("encoder", "good_encoder").plugin == "good_plugin"
    assert registry.get("mixer", "concat").plugin == "core"


def test_plugin_whose_hook_raises_is_reported(plugin_dir):
    write_module(plugin_dir, "raising_plugin", """
        from fusion import hookimpl

        @hookimpl
        def fusion_add_mixers():
            raise ValueError("bad registration")
        """)
    with pytest.warns(RuntimeWarning, match="bad registration"):
        registry = build_registry(["raising_plugin"])
    assert registry.failures[0].plugin == "raising_plugin"


def test_duplicate_name_names_both_plugins(plugin_dir):
    write_module(plugin_dir, "first_plugin", ENCODER_PLUGIN.format(name="twin"))
    write_module(plugin_dir, "second_plugin", ENCODER_PLUGIN.format(name="twin"))
    with pytest.raises(RegistryError, match="encoder 'twin' is registered by two plugins") as err:
        build_registry(["first_plugin", "second_plugin"], entry_points=False)
    assert "first_plugin" in str(err.value) and "second_plugin" in str(err.value)


def test_unknown_name_suggests_close_matches():
    registry = get_registry()
    with pytest.raises(RegistryError, match=r"unknown mixer 'concatt'; did you mean 'concat'\?"):
        registry.get("mixer", "concatt")


def test_wrong_spec_type_is_rejected(plugin_dir):
    write_module(plugin_dir, "wrong_spec_plugin", """
        from fusion import MixerSpec, hookimpl

        @hookimpl
        def fusion_add_encoders():
            return [MixerSpec(name="x", factory=dict)]
        """)
    with pytest.raises(RegistryError, match="returned MixerSpec, expected EncoderSpec"):
        build_registry(["wrong_spec_plugin"], entry_points=False)


def test_first_line_of_an_error_never_fails():
    """Error sentences quote an exception's first line; an empty message must not become an IndexError."""
    from fusion.errors import DataError, error_message, first_line

    assert first_line(ValueError("")) == "ValueError"
    assert first_line(OSError("\n\n  disk full\nmore")) == "disk full"
    assert error_message(DataError("f.npy: bad")) == "f.npy: bad"
    assert error_message(KeyError("x")) == "KeyError: 'x'"

"""The core (``fusion/``) imports no plugin module and names no component a plugin registers.

Plugins depend on the core, never the other way: a core that names ``stgcn`` or imports
``fusion_plugins`` breaks as soon as that plugin is missing or renamed. The check reads the source
(AST): any ``import fusion_plugins...`` (also inside a function) and any string constant outside a
docstring that equals a component name registered by a plugin other than ``core``.
"""

import ast
from pathlib import Path

from fusion.registry import get_registry

CORE = Path(__file__).resolve().parents[2] / "fusion"


def _modules():
    return sorted(CORE.rglob("*.py"))


def _docstrings(tree) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def test_no_core_module_imports_a_plugin():
    offenders = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(CORE.parent)}:{node.lineno} imports {n}" for n in names
                          if n.split(".")[0] == "fusion_plugins"]
    assert not offenders, "\n".join(offenders)


def test_no_core_module_names_a_plugin_component():
    registry = get_registry()
    # recipe components; modality names are the batch's keys (the data contract), not components
    kinds = ("encoder", "mixer", "head", "objective", "dataset", "transform", "metric")
    plugin_names = {s.name for k in kinds for s in registry.all_specs(k) if s.plugin != "core"}
    offenders = []
    for path in _modules():
        tree = ast.parse(path.read_text())
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip \
                    and node.value in plugin_names:
                offenders.append(f"{path.relative_to(CORE.parent)}:{node.lineno} names {node.value!r}")
    assert not offenders, "\n".join(offenders)


def test_the_core_plugin_registers_no_encoder():
    assert [s.name for s in get_registry().all_specs("encoder") if s.plugin == "core"] == []

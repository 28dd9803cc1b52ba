"""Plugin discovery and name lookup.

Plugins come from the ``fusion.plugins`` entry-point group (built-ins are registered there too,
exactly like third-party plugins) and from modules a recipe lists under ``plugins:``. A plugin that
fails to import or to register is reported with its name and error while the others still load;
two plugins registering one name is an error naming both.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import pluggy

from fusion import hookspecs
from fusion.errors import RegistryError
from fusion.types import KINDS, SPEC_OF_KIND, AuxField, ComponentSpec

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "fusion.plugins"
_HOOK_OF_KIND = {
    "modality": "fusion_add_modalities",
    "encoder": "fusion_add_encoders",
    "mixer": "fusion_add_mixers",
    "head": "fusion_add_heads",
    "objective": "fusion_add_objectives",
    "dataset": "fusion_add_datasets",
    "transform": "fusion_add_transforms",
    "metric": "fusion_add_metrics",
    "input_format": "fusion_add_input_formats",
    "pose_estimator": "fusion_add_pose_estimators",
    "checkpoint_format": "fusion_add_checkpoint_formats",
}


@dataclass
class PluginFailure:
    plugin: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} failed to load: {self.error}"


@dataclass
class Registry:
    """Everything the loaded plugins registered, by kind and name."""

    manager: pluggy.PluginManager
    specs: dict[str, dict[str, ComponentSpec]] = field(default_factory=lambda: {k: {} for k in KINDS})
    failures: list[PluginFailure] = field(default_factory=list)

    def get(self, kind: str, name: str) -> ComponentSpec:
        """The spec registered as ``name``; the error lists close matches and every known name."""
        if kind not in self.specs:
            raise RegistryError(f"unknown component kind {kind!r}; kinds are {', '.join(KINDS)}")
        try:
            return self.specs[kind][name]
        except KeyError:
            raise RegistryError(unknown_name_message(kind, name, self.names(kind))) from None

    def names(self, kind: str) -> list[str]:
        return sorted(self.specs[kind])

    def all_specs(self, kind: str | None = None) -> list[ComponentSpec]:
        kinds = [kind] if kind else list(KINDS)
        return [self.specs[k][n] for k in kinds for n in sorted(self.specs[k])]

    def call_event(self, hook: str, **kwargs) -> None:
        getattr(self.manager.hook, hook)(**kwargs)


def unknown_name_message(kind: str, name: object, known: Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {kind} {name!r}{hint} Known {kind}s: {', '.join(known) or '(none)'}"


def _entry_point_plugins() -> Iterable[tuple[str, object]]:
    seen: set[str] = set()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in seen:  # the same distribution seen twice on sys.path
            continue
        seen.add(ep.name)
        try:
            yield ep.name, ep.load()
        except Exception as exc:  # a broken plugin must not take the others down
            yield ep.name, PluginFailure(ep.name, f"{type(exc).__name__}: {exc}")


def _module_plugins(modules: Iterable[str]) -> Iterable[tuple[str, object]]:
    for module in modules:
        try:
            yield module, importlib.import_module(module)
        except Exception as exc:
            yield module, PluginFailure(module, f"{type(exc).__name__}: {exc}")


def build_registry(modules: Iterable[str] = (), entry_points: bool = True) -> Registry:
    """Load plugins and collect their specs. Use :func:`get_registry` for the cached instance."""
    manager = pluggy.PluginManager("fusion")
    manager.add_hookspecs(hookspecs)
    registry = Registry(manager)
    sources = list(_entry_point_plugins()) if entry_points else []
    sources += list(_module_plugins(modules))
    for name, plugin in sources:
        if isinstance(plugin, PluginFailure):
            registry.failures.append(plugin)
            continue
        if manager.is_registered(plugin) or manager.has_plugin(name):
            continue
        try:
            manager.register(plugin, name=name)
            manager.check_pending()
        except pluggy.PluginValidationError as exc:  # a misspelled or mistyped hook: refuse the plugin
            manager.unregister(name=name)
            registry.failures.append(PluginFailure(name, _validation_message(name, exc)))
        except Exception as exc:
            registry.failures.append(PluginFailure(name, f"{type(exc).__name__}: {exc}"))
    for kind, hook_name in _HOOK_OF_KIND.items():
        for impl in getattr(manager.hook, hook_name).get_hookimpls():
            _collect(registry, kind, impl.plugin_name, impl.function)
    for failure in registry.failures:
        warnings.warn(str(failure), RuntimeWarning, stacklevel=2)
    return registry


def _validation_message(plugin: str, exc: Exception) -> str:
    """One sentence for pluggy's complaint about a hook implementation, with close hook names."""
    text = str(exc)
    unknown = [n for n in dir(hookspecs) if n.startswith("fusion_")]
    for word in text.replace("'", " ").replace(",", " ").split():
        if word.startswith("fusion_") and word not in unknown:
            close = difflib.get_close_matches(word, unknown, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"hook implementation {word!r} is not a Fusion hook{hint}; the hooks are listed in fusion/hookspecs.py"
    return text


def _collect(registry: Registry, kind: str, plugin: str, function) -> None:
    try:
        specs = list(function() or [])
    except Exception as exc:
        registry.failures.append(PluginFailure(plugin, f"{function.__name__} raised {type(exc).__name__}: {exc}"))
        return
    expected = SPEC_OF_KIND[kind]
    table = registry.specs[kind]
    for spec in specs:
        if not isinstance(spec, expected):
            raise RegistryError(
                f"plugin {plugin!r}: {function.__name__} returned {type(spec).__name__}, expected {expected.__name__}"
            )
        wrong = [f for f in getattr(spec, "aux", ()) if not isinstance(f, AuxField)]
        if wrong:
            raise RegistryError(
                f"plugin {plugin!r}: {kind} {spec.name!r} declares aux {wrong[0]!r}; declare fusion.types.AuxField "
                "records (name, meaning, provider) so readers can name what is missing"
            )
        if spec.name in table:
            raise RegistryError(
                f"{kind} {spec.name!r} is registered by two plugins: {table[spec.name].plugin!r} and {plugin!r}; "
                "rename one of them or uninstall one plugin"
            )
        table[spec.name] = spec.with_plugin(plugin)


_CACHE: dict[tuple[str, ...], Registry] = {}


def get_registry(modules: Iterable[str] = ()) -> Registry:
    """The registry of installed plugins plus ``modules`` (a recipe's ``plugins:``), cached."""
    key = tuple(modules)
    if key not in _CACHE:
        _CACHE[key] = build_registry(key)
    return _CACHE[key]


def clear_cache() -> None:
    """Forget loaded registries (tests that install or break plugins call this)."""
    _CACHE.clear()

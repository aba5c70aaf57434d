"""Find task modules: the built-in folder, configured folders, the `corehub.modules` group.

A module that fails to import or register is logged and skipped; the rest load.
"""

from __future__ import annotations

import importlib
import logging
import sys
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

import corehub.modules as builtin_modules
from corehub.config.settings import ModulesSettings
from corehub.registry.registry import ModuleInfo, Registry

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "corehub.modules"


def discover(settings: ModulesSettings) -> Registry:
    registry = Registry()
    builtin = Path(builtin_modules.__file__).parent
    for name in _packages_in(builtin):
        _load(
            registry,
            lambda n=name: importlib.import_module(f"corehub.modules.{n}"),
            name,
            "builtin",
        )
    for folder in settings.paths:
        folder = folder.expanduser().resolve()
        if not folder.is_dir():
            log.error("module path %s is not a folder; skipped", folder)
            continue
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
        for name in _packages_in(folder):
            _load(registry, lambda n=name: importlib.import_module(n), name, str(folder))
    if settings.entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            _load(registry, ep.load, ep.name, f"entry point {ep.value}")
    return registry


def _packages_in(folder: Path) -> list[str]:
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.is_dir() and not p.name.startswith(("_", ".")) and (p / "__init__.py").exists()
    )


def _load(registry: Registry, importer: Any, name: str, source: str) -> None:
    if registry.has_module(name):
        log.error(
            "module %s from %s skipped: a module of that name is already loaded", name, source
        )
        return
    try:
        module: ModuleType = importer()
        register = getattr(module, "register_tasks", None)
        if not callable(register):
            raise TypeError("it has no register_tasks(registry) function")
        registry.add_module(_info(module, name, source))
        register(registry)
    except Exception as exc:
        registry.drop_module(name)
        log.error("module %s from %s skipped: %s: %s", name, source, type(exc).__name__, exc)


def _info(module: ModuleType, name: str, source: str) -> ModuleInfo:
    doc = (module.__doc__ or "").strip()
    heartbeat = getattr(module, "heartbeat", None)
    return ModuleInfo(
        name=name,
        version=str(getattr(module, "__version__", "0")),
        description=doc.splitlines()[0] if doc else "",
        source=source,
        config=_module_config(module),
        heartbeat=heartbeat if callable(heartbeat) else None,
    )


def _module_config(module: ModuleType) -> dict[str, Any]:
    path = Path(module.__file__ or "").parent / "config.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text())
    return data if isinstance(data, dict) else {}

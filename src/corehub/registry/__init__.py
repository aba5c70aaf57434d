"""Modules and their tasks: discovery, metadata and argument checks."""

from corehub.registry.discovery import discover
from corehub.registry.registry import ModuleInfo, Registry
from corehub.registry.specs import Parameter, TaskOptions, TaskSpec

__all__ = ["ModuleInfo", "Parameter", "Registry", "TaskOptions", "TaskSpec", "discover"]

"""Typed configuration; see `settings.Settings` for every key."""

from corehub.config.loader import load_settings
from corehub.config.settings import Settings

__all__ = ["Settings", "load_settings"]

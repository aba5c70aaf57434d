"""Built-in task modules; each sub-package is discovered by the registry."""

"""The compose file and the README stay true to the settings model and the CLI."""

from __future__ import annotations

from pathlib import Path

import yaml

from corehub.config.reference import rows

ROOT = Path(__file__).resolve().parents[1]


def test_compose_sets_only_settings_that_exist() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env_names = set(compose["x-corehub-env"])
    known = {env for _key, env, _default, _meaning in rows()}
    assert env_names - known == set()


def test_compose_runs_api_worker_and_scheduler_commands() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    commands = {name: services[name]["command"][:2] for name in ("api", "worker", "scheduler")}
    assert commands == {
        "api": ["corehub", "api"],
        "worker": ["corehub", "worker"],
        "scheduler": ["corehub", "scheduler"],
    }


def test_ci_runs_the_readme_test_command() -> None:
    ci_last = [ln for ln in (ROOT / ".ci/run").read_text().splitlines() if ln.strip()][-1]
    assert (ci_last, f"```bash\n{ci_last}\n```" in (ROOT / "README.md").read_text()) == (
        "./scripts/test",
        True,
    )

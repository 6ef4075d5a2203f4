"""Tests hand their fakes to the composition root: ``bootstrap.build(settings, Adapters(...))``, installed as what
handlers and routes reach through ``bootstrap.services()`` (the ``install_services`` fixture resets it after)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ledgersync.bootstrap import Adapters, Services
    from ledgersync.config import Settings


class InstallServices(Protocol):
    def __call__(
        self,
        adapters: Adapters | None = None,
        *,
        use_cases: Mapping[str, Any] | None = None,
        settings: Settings | None = None,
    ) -> Services: ...


def install_built_services(
    adapters: Adapters | None = None,
    *,
    use_cases: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> Services:
    """Install ``build(settings, adapters, use_cases=...)``; the settings default to the environment's (read now)."""
    from ledgersync import bootstrap
    from ledgersync.config import Settings

    built = bootstrap.build(settings or Settings.from_environment(), adapters, use_cases=use_cases)
    bootstrap.install(built)
    return built

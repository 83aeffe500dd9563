"""Where each service is reached on this machine: one definition for the launcher, the demo, the closed loop and
the command lines, read from the settings the services themselves read (``<SERVICE>_GRPC_HOST``,
``<SERVICE>_GRPC_PORT``, ``<SERVICE>_METRICS_PORT``, each with the service's own default)."""

from __future__ import annotations

from dataclasses import dataclass

from analysis_svc.config import AnalysisSettings
from learning_svc.config import LearningSettings
from persona_svc.config import PersonaSettings
from svckit.settings import ServiceSettings
from transcript_svc.config import TranscriptSettings

# A server listening on every interface is reached on loopback.
_WILDCARDS = {"", "0.0.0.0", "::", "[::]"}


@dataclass(frozen=True)
class Endpoint:
    name: str
    host: str
    grpc_port: int
    metrics_port: int

    @property
    def prefix(self) -> str:
        return self.name.upper()

    @property
    def module(self) -> str:
        return f"{self.name}_svc"

    @property
    def reachable_host(self) -> str:
        return "127.0.0.1" if self.host in _WILDCARDS else self.host

    @property
    def address(self) -> str:
        return f"{self.reachable_host}:{self.grpc_port}"

    @property
    def metrics_url(self) -> str:
        return f"http://{self.reachable_host}:{self.metrics_port}/metrics"


_SETTINGS: dict[str, type[ServiceSettings]] = {
    "persona": PersonaSettings,
    "transcript": TranscriptSettings,
    "analysis": AnalysisSettings,
    "learning": LearningSettings,
}


def endpoint(name: str) -> Endpoint:
    settings = _SETTINGS[name]()
    return Endpoint(name, settings.grpc_host, settings.grpc_port, settings.metrics_port)


def endpoints() -> list[Endpoint]:
    """The four services, in the order they start."""
    return [endpoint(name) for name in _SETTINGS]

"""The import rules of docs/architecture.md, read from the code: each layer imports only what it may."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("persona_svc", "transcript_svc", "analysis_svc", "learning_svc")
# Packages that carry I/O, wire formats or gRPC: not for the domain.
IO_AND_WIRE = ("grpc", "grpc_status", "grpc_health", "grpc_reflection", "google", "sparring", "sqlalchemy",
               "asyncpg", "openai", "httpx", "prometheus_client", "alembic")
SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE \w+\.\w+|DELETE FROM)\b")


def modules(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py")
                  if "migrations" not in path.parts)


def imported(path: Path) -> set[str]:
    """Every module a file imports, by its full dotted name."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def offending(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(name for name in imported(path) if name.split(".")[0] in forbidden or name in forbidden
                  or any(name.startswith(prefix + ".") for prefix in forbidden))


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


@pytest.mark.parametrize("path", modules("calls", "guardrails", *(f"{s}/domain" for s in SERVICES)), ids=relative)
def test_the_domain_is_pure(path):
    assert not offending(path, (*IO_AND_WIRE, "svckit.db", "svckit.interceptors", "svckit.server")), relative(path)


@pytest.mark.parametrize("path", modules(*(f"{s}/service_layer" for s in SERVICES)), ids=relative)
def test_use_cases_hold_no_sql_and_reach_adapters_only_through_ports(path):
    service = path.relative_to(ROOT).parts[0]
    assert not offending(path, (f"{service}.adapters", f"{service}.entrypoints", "sqlalchemy", "asyncpg", "grpc",
                                "sparring")), relative(path)
    assert not SQL.search(path.read_text()), f"{relative(path)} holds SQL"


@pytest.mark.parametrize("path", modules(*(f"{s}/entrypoints" for s in SERVICES)), ids=relative)
def test_entrypoints_call_the_service_layer_not_adapters(path):
    service = path.relative_to(ROOT).parts[0]
    assert not offending(path, (f"{service}.adapters",)), relative(path)


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_imports_another(service):
    others = tuple(s for s in SERVICES if s != service)
    assert not {relative(p): offending(p, others) for p in modules(service) if offending(p, others)}


def test_the_shared_packages_import_no_service_and_the_runtime_nothing_above_it():
    above_runtime = (*SERVICES, "access", "calls", "guardrails", "service_clients", "devtools")
    assert not {relative(p): offending(p, above_runtime) for p in modules("svckit") if offending(p, above_runtime)}
    for package in ("access", "calls", "guardrails", "service_clients"):
        assert not {relative(p): offending(p, (*SERVICES, "devtools")) for p in modules(package)
                    if offending(p, (*SERVICES, "devtools"))}

"""Packaging: every package directory is declared, typed, and importable under batchd.*."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIRS = {"batchd.protocol": "protocol", "batchd.daemon": "daemon", "batchd.client": "client"}


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _package_dirs() -> set[str]:
    found = set()
    for name, directory in PACKAGE_DIRS.items():
        for init in (ROOT / directory).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / directory)
            found.add(".".join([name, *relative.parts]))
    return found


def test_every_package_directory_is_declared() -> None:
    setuptools = _pyproject()["tool"]["setuptools"]  # type: ignore[index]
    assert set(setuptools["packages"]) == _package_dirs()
    assert setuptools["package-dir"] == PACKAGE_DIRS


def test_every_directory_with_python_files_is_a_package() -> None:
    for directory in PACKAGE_DIRS.values():
        for source in (ROOT / directory).rglob("*.py"):
            assert (source.parent / "__init__.py").exists(), f"{source.parent} lacks __init__.py"


def test_packages_ship_py_typed() -> None:
    for directory in PACKAGE_DIRS.values():
        assert (ROOT / directory / "py.typed").exists()


def test_console_scripts_point_at_real_functions() -> None:
    scripts = _pyproject()["project"]["scripts"]  # type: ignore[index]
    assert scripts == {
        "batchd": "batchd.daemon.main:main",
        "batchctl": "batchd.client.cli:main",
        "batchd-http": "batchd.client.http_gateway:main",
    }


def test_protocol_is_pure_and_rooms_do_not_import_each_other() -> None:
    forbidden = {
        "protocol": ("zmq", "os", "socket", "pathlib", "batchd.daemon", "batchd.client", "io"),
        "daemon": ("batchd.client",),
        "client": ("batchd.daemon",),
    }
    for directory, banned in forbidden.items():
        for source in (ROOT / directory).rglob("*.py"):
            for node in ast.walk(ast.parse(source.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                for name in names:
                    assert not any(name == b or name.startswith(b + ".") for b in banned), (
                        f"{source.relative_to(ROOT)} imports {name}"
                    )


def test_version_matches_pyproject() -> None:
    from batchd.protocol.version import BATCHD_VERSION

    assert _pyproject()["project"]["version"] == BATCHD_VERSION  # type: ignore[index]

"""The modules of ``python:`` steps that live beside a pipeline, loaded from their files.

A long-lived process (``aoetl mcp``, a notebook) runs many pipelines. ``import_module`` would
hand every one of them the first ``steps`` it imported, from whichever folder came first, and
keep the code of a file edited since. So a module found in the pipeline's folder or the
working directory is executed from that file, under its own name in ``sys.modules`` (pickle
and ``module:function`` names still resolve), and executed again when the file found is
another one or its bytes changed: what a fresh ``aoetl run`` would import. Installed modules
(site-packages, the standard library) are never replaced.
"""

from __future__ import annotations

import hashlib
import importlib.util
import site
import sys
import sysconfig
import threading
from dataclasses import dataclass
from importlib.machinery import ModuleSpec, SourceFileLoader
from pathlib import Path
from types import ModuleType


@dataclass(frozen=True)
class _Version:
    """Where a module was executed from and what the file held then."""

    path: Path
    digest: str
    module: ModuleType


# Name -> the version load_function executed; a module of that name in sys.modules that is
# not this object was put there by someone else.
_LOADED: dict[str, _Version] = {}
_LOCK = threading.RLock()  # MCP runs load steps from worker threads


def find_local(module_name: str, folders: tuple[Path, ...]) -> list[Path] | None:
    """The files of ``module_name`` and of each package above it (outermost first) in the
    first of ``folders`` that holds the module; None when none does. A package is its
    ``__init__.py``, or its folder when it has none (a namespace package)."""
    parts = module_name.split(".")
    for folder in folders:
        chain: list[Path] = []
        here = folder
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            package = here / part
            if last and (here / f"{part}.py").is_file():
                chain.append(here / f"{part}.py")
            elif (package / "__init__.py").is_file():
                chain.append(package / "__init__.py")
            elif package.is_dir() and not last:
                chain.append(package)
            else:
                break
            here = package
        else:
            return [p.resolve() for p in chain]
    return None


def load_local(module_name: str, chain: list[Path]) -> ModuleType:
    """The module ``module_name`` executed from ``chain`` (as :func:`find_local` gives it),
    reusing what is current; import errors propagate as ``import_module``'s would."""
    parts = module_name.split(".")
    with _LOCK:
        module: ModuleType | None = None
        fresh = False
        for depth, path in enumerate(chain, start=1):
            name = ".".join(parts[:depth])
            module, changed = _level(name, path, force=fresh)
            fresh = fresh or changed
        assert module is not None  # chain has one entry per part
        return module


def _level(name: str, path: Path, *, force: bool) -> tuple[ModuleType, bool]:
    """One level of the chain: the module current for ``path``, and whether it was executed
    now (its submodules must then be executed again too)."""
    digest = _digest(path)
    existing = sys.modules.get(name)
    ours = _LOADED.get(name)
    if not force and existing is not None:
        if ours is not None and ours.module is existing:
            if ours.path == path and ours.digest == digest:
                return existing, False
        elif _origin(existing) == path or _installed(existing):
            # Imported by someone else from this very file (a notebook's own import, a test
            # package), or an installed module a local file would shadow: keep it, as the
            # import system would have.
            if _origin(existing) == path:
                _LOADED[name] = _Version(path, digest, existing)
            return existing, False
    return _execute(name, path, digest), True


def _execute(name: str, path: Path, digest: str) -> ModuleType:
    package = path.name == "__init__.py" or path.is_dir()
    if package:
        _forget_submodules(name)
    if path.is_dir():  # a namespace package: nothing to execute
        namespace = ModuleSpec(name, None, is_package=True)
        namespace.submodule_search_locations = [str(path)]
        module = importlib.util.module_from_spec(namespace)
        _install(name, module, path, digest)
        return module
    loader = SourceFileLoader(name, str(path))
    where = [str(path.parent)] if package else None
    spec = importlib.util.spec_from_file_location(
        name, path, loader=loader, submodule_search_locations=where
    )
    assert spec is not None  # a .py file with a loader given always has a spec
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module  # the module's own code may import itself (dataclasses do)
    try:
        # Compiled from the bytes just read: the __pycache__ entry is keyed by the file's
        # mtime in whole seconds and its size, so an edit in the same second would be missed.
        exec(loader.source_to_code(loader.get_data(str(path)), str(path)), module.__dict__)
    except BaseException:
        if previous is not None:
            sys.modules[name] = previous
        else:
            sys.modules.pop(name, None)
        raise
    _install(name, module, path, digest)
    return module


def _install(name: str, module: ModuleType, path: Path, digest: str) -> None:
    sys.modules[name] = module
    _LOADED[name] = _Version(path, digest, module)
    parent, _, child = name.rpartition(".")
    if parent and parent in sys.modules:
        setattr(sys.modules[parent], child, module)


def _forget_submodules(name: str) -> None:
    """Drop the submodules of a package executed again, so its imports find its own files;
    installed ones (a local package cannot have any) are left alone."""
    for key in [k for k in sys.modules if k.startswith(f"{name}.")]:
        if not _installed(sys.modules[key]):
            del sys.modules[key]
            _LOADED.pop(key, None)


def _digest(path: Path) -> str:
    if path.is_dir():
        return "namespace"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _origin(module: ModuleType) -> Path | None:
    """The file (or namespace folder) ``module`` was imported from."""
    places = _places(module)
    return places[0] if len(places) == 1 else None


def _places(module: ModuleType) -> list[Path]:
    file = getattr(module, "__file__", None)
    if file:
        return [Path(file).resolve()]
    return [Path(p).resolve() for p in getattr(module, "__path__", None) or []]


def _installed(module: ModuleType) -> bool:
    """Built in, or imported from the standard library or a site-packages folder."""
    roots = _install_roots()
    return all(any(p.is_relative_to(root) for root in roots) for p in _places(module))


def _install_roots() -> list[Path]:
    paths = sysconfig.get_paths()
    roots = {paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths}
    roots.update(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        roots.add(site.getusersitepackages())
    return [Path(r).resolve() for r in roots]

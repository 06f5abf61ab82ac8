"""``create_pipeline(operations=…)``: Python values turned into the spec's transform steps
and checks, and Python callables turned into ``python:`` steps this process can import.

A ``python:`` step names ``module:function``; the step machinery imports it, so a function
defined at module level of an importable module is named as it is. A lambda, a nested
function, a callable object or a function of ``__main__`` has no name another process could
import: it is registered under a generated module (``aoetl_local.<name>_<digest>``) in
``sys.modules``, callable in this process only, and :func:`local_functions` lists it so that
what must cross processes (an Airflow export) can refuse it by name.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import re
import sys
import threading
import types
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import UserError
from ..transform.python_step import LOCAL_PACKAGE

# The declarative steps an operation may name directly, with the step's own value.
STEP_OPERATIONS = ("sql", "filter", "rename", "cast", "derive", "drop", "dedupe", "python")
OPERATIONS = ("transform", *STEP_OPERATIONS, "checks")

_NAME = re.compile(r"[A-Za-z_]\w*", re.ASCII)
_LOCK = threading.Lock()
# Generated module name -> the callable it holds; kept for the life of the process, since a
# spec naming it may run (or resume) any time later in this process.
_LOCAL: dict[str, Callable[..., Any]] = {}


def from_operations(operations: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[Any]]:
    """The transform steps (in the order the operations are given) and the checks.

    ``transform`` takes a callable, a SQL string, a step mapping or a list of them;
    ``python`` a callable or ``'module:function'``; ``sql``, ``filter``, ``rename``, ``cast``,
    ``derive``, ``drop`` and ``dedupe`` take what that step takes in a pipeline file;
    ``checks`` a list of check mappings (as under ``checks:`` in a pipeline file).
    """
    if not isinstance(operations, Mapping):
        raise UserError(
            f"operations must be a mapping such as {{'transform': fn}}, not "
            f"{type(operations).__name__}"
        )
    steps: list[dict[str, Any]] = []
    checks: list[Any] = []
    for name, value in operations.items():
        if name == "transform":
            items = value if isinstance(value, list | tuple) else [value]
            steps += [_step(item, f"operations['transform'][{i}]") for i, item in enumerate(items)]
        elif name == "checks":
            checks += list(value) if isinstance(value, list | tuple) else [value]
        elif name in STEP_OPERATIONS:
            steps.append(_step({name: value}, f"operations[{name!r}]"))
        else:
            raise UserError(
                f"operations has no {name!r}; use {', '.join(OPERATIONS)} (see docs/python-api.md)"
            )
    return steps, checks


def _step(item: Any, where: str) -> dict[str, Any]:
    """One transform step as a pipeline file writes it, a callable becoming a python step."""
    if isinstance(item, str):
        return {"sql": item}
    if callable(item):
        return {"python": python_target(item)}
    if isinstance(item, Mapping):
        step = dict(item)
        if callable(step.get("python")):
            step["python"] = python_target(step["python"])
        return step
    raise UserError(
        f"{where} is {type(item).__name__}; give a Python callable (a pyarrow Table or "
        "RecordBatch in, the same out), a SQL SELECT over `input`, or a step such as "
        "{'filter': 'amount > 0'}"
    )


def python_target(func: Callable[..., Any]) -> str:
    """``module:function`` that imports ``func``: its own name when it is a function at module
    level of an importable module, else a name registered for this process."""
    own = _importable_name(func)
    return own if own is not None else _register(func)


def _importable_name(func: Callable[..., Any]) -> str | None:
    module_name = getattr(func, "__module__", None)
    name = getattr(func, "__qualname__", None)
    if not isinstance(func, types.FunctionType) or not module_name or not name:
        return None
    if module_name == "__main__" or module_name.split(".")[0] == LOCAL_PACKAGE:
        return None  # another process's __main__ is another program
    if not _NAME.fullmatch(name) or not all(map(_NAME.fullmatch, module_name.split("."))):
        return None  # a lambda, a nested function or a method
    module = sys.modules.get(module_name)
    if module is None or getattr(module, "__spec__", None) is None:
        return None  # built in memory: nothing to import it from
    return f"{module_name}:{name}" if getattr(module, name, None) is func else None


def _register(func: Callable[..., Any]) -> str:
    """Register ``func`` under a generated module; the same function gets the same name.

    The name is derived from what the function does (:func:`_identity`), so a script run
    again makes the same spec (and the same spec hash), and an unfinished run of it resumes.
    Two callables with one name behave the same, so the newer one simply takes the name.
    """
    label = _label(func)
    digest = _hash([_identity(func)])[:12]
    module_name = f"{LOCAL_PACKAGE}.{label}_{digest}"
    with _LOCK:
        _LOCAL[module_name] = func
        if LOCAL_PACKAGE not in sys.modules:
            package = types.ModuleType(LOCAL_PACKAGE, "callables given to create_pipeline")
            package.__path__ = []
            sys.modules[LOCAL_PACKAGE] = package
        module = types.ModuleType(module_name, f"holds {_described(func)} for this process")
        setattr(module, label, func)
        sys.modules[module_name] = module
        setattr(sys.modules[LOCAL_PACKAGE], module_name.rsplit(".", 1)[1], module)
    return f"{module_name}:{label}"


def _label(func: Callable[..., Any]) -> str:
    name = getattr(func, "__name__", None) or type(func).__name__
    label = re.sub(r"\W", "", name, flags=re.ASCII)
    return "fn" if not label or label[0].isdigit() or label == "lambda" else label


def _identity(func: Callable[..., Any]) -> str:
    """What makes two callables the same transform: their code and what it refers to.

    The text is the same in every process for the same source (nothing in it is a memory
    address unless a captured value is neither plain nor code), and changes whenever what the
    callable does could: its bytecode with every nested code object's (a comprehension's, an
    inner function's), the names it looks up, the plain values it closes over or defaults to,
    and the globals those names find, a referenced function followed in turn.
    """
    return _value(func, 0, set())


# A referenced function is followed this many references deep; beyond, it is named by module
# and qualified name, which still tells two different functions apart.
_DEPTH = 4
_PLAIN = (str, bytes, int, float, complex, bool, type(None))


def _function(func: types.FunctionType, depth: int, seen: set[int]) -> str:
    name = f"{func.__module__}:{func.__qualname__}"
    if depth > _DEPTH or id(func) in seen:  # a recursive function refers to itself
        return name
    seen.add(id(func))
    code, found = func.__code__, func.__globals__
    parts = [name, _code(code)]
    parts += [_value(d, depth + 1, seen) for d in func.__defaults__ or ()]
    parts += [
        f"{k}={_value(v, depth + 1, seen)}" for k, v in sorted((func.__kwdefaults__ or {}).items())
    ]
    for cell in func.__closure__ or ():
        try:
            parts.append(_value(cell.cell_contents, depth + 1, seen))
        except ValueError:  # a cell not yet assigned
            parts.append("<empty cell>")
    # co_names holds attribute names too; only those the module defines are globals.
    parts += [
        f"{n}={_value(found[n], depth + 1, seen)}" for n in sorted(_names(code)) if n in found
    ]
    return f"{name}#{_hash(parts)}"


def _class(cls: type, depth: int, seen: set[int]) -> str:
    """A class by name and by the functions it defines (what calling it or its methods
    runs); its other attributes are read when they are used, like any global's."""
    name = f"{cls.__module__}.{cls.__qualname__}"
    if depth > _DEPTH or id(cls) in seen:
        return name
    seen.add(id(cls))
    own = {k: getattr(v, "__func__", v) for k, v in vars(cls).items()}
    parts = [
        f"{k}={_function(v, depth + 1, seen)}"
        for k, v in sorted(own.items())
        if isinstance(v, types.FunctionType)
    ]
    return f"{name}#{_hash([name, *parts])}"


def _code(code: types.CodeType) -> str:
    """Bytecode, constants (nested code recursively, never by repr: that holds an address)
    and the names looked up."""
    consts = [
        _code(c) if isinstance(c, types.CodeType) else _value(c, _DEPTH, set())
        for c in code.co_consts
    ]
    return _hash([code.co_code.hex(), *consts, *code.co_names])


def _names(code: types.CodeType) -> set[str]:
    """The names ``code`` and the code nested in it look up (globals among them)."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _value(value: Any, depth: int, seen: set[int]) -> str:
    """A value as the digest sees it: plain values and their tuples and frozensets by their
    text, functions and classes by what they do, modules by name; anything else (an array
    whose repr elides, a mutable object) by identity, so two different objects never share a
    name (such a callable is then named anew in every process)."""
    if isinstance(value, _PLAIN):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ",".join(_value(v, depth, seen) for v in value) + ")"
    if isinstance(value, frozenset):  # iteration order follows string hashing: per process
        return "{" + ",".join(sorted(_value(v, depth, seen) for v in value)) + "}"
    if isinstance(value, types.FunctionType):
        return _function(value, depth, seen)
    if isinstance(value, types.MethodType):
        return f"{_value(value.__func__, depth, seen)} of {_value(value.__self__, depth, seen)}"
    if isinstance(value, functools.partial):
        args = [_value(a, depth, seen) for a in value.args]
        args += [f"{k}={_value(v, depth, seen)}" for k, v in sorted(value.keywords.items())]
        return f"partial({_value(value.func, depth, seen)}, {', '.join(args)})"
    if isinstance(value, types.ModuleType):
        return f"module {value.__name__}"
    if isinstance(value, type):
        return _class(value, depth, seen)
    if isinstance(value, types.BuiltinFunctionType) and (
        value.__self__ is None or isinstance(value.__self__, types.ModuleType)
    ):
        return f"{value.__module__}.{value.__qualname__}"
    return f"{type(value).__qualname__}@{id(value)}"


def _hash(parts: list[str]) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def local_functions(steps: tuple[Any, ...]) -> dict[str, str]:
    """The python steps of ``steps`` that only this process can import: target -> what the
    callable is ('the lambda at etl.py line 12')."""
    found: dict[str, str] = {}
    for step in steps:
        target = getattr(step, "python", None)
        if isinstance(target, str) and target.split(".")[0] == LOCAL_PACKAGE:
            func = _LOCAL.get(target.partition(":")[0])
            found[target] = (
                _described(func) if func is not None else "a callable of another process"
            )
    return found


def _described(func: Callable[..., Any]) -> str:
    """'the function clean (etl.py line 12)', 'the lambda (etl.py line 3)'."""
    name = getattr(func, "__qualname__", None) or type(func).__qualname__
    what = "the lambda" if "<lambda>" in name else f"the function {name}"
    try:
        file = inspect.getsourcefile(func) or inspect.getfile(func)
        line = inspect.getsourcelines(func)[1]
    except (TypeError, OSError):
        return what
    return f"{what} ({file.rsplit('/', 1)[-1]} line {line})"

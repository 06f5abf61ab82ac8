"""The ``aoetl`` command line. Thin: it parses options, calls the API, and renders results.

Exit codes: 0 success, 1 the run failed, 2 bad input or usage.

Each command lives in its own module and registers itself on ``app`` when imported; the
import order below is the order ``aoetl --help`` lists them in.
"""

from __future__ import annotations

import gc
import sys

import typer

from ..errors import AoetlError
from ._app import _state, app, err

# isort: off
from . import run, analyze, plan, dag, profile, sample, history, agents, memory, query, mcp  # noqa: F401  (each registers its commands, in this order)
# isort: on

__all__ = ["app", "main"]


def main() -> None:
    """Console entry point: one clean line for user errors, tracebacks only with -v."""
    from ._signals import close_stdout, install, mark_interrupted, run_guarded

    install()
    # Everything imported so far lives as long as the process: keep the cyclic garbage
    # collector from walking it, during the run and again at exit (~60 ms of every run).
    gc.freeze()

    def on_hard_exit() -> None:
        from ..settings import home

        stdout, printed = close_stdout()
        results = mark_interrupted(home())
        if results and not printed and "--json" in sys.argv[1:]:
            import json  # a script reading --json still gets a result

            stdout.write(json.dumps(results[0], indent=2) + "\n")
            stdout.flush()
        err.print("interrupted; nothing was committed", markup=False, highlight=False)

    run_guarded(_invoke, on_hard_exit)


def _invoke() -> int:
    """Run the command; its exit code (errors are printed here, on the thread that raised)."""
    try:
        code = app(standalone_mode=False)
        return code if isinstance(code, int) else 0
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except AoetlError as exc:
        _print_error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        err.print("interrupted; nothing was committed")
        return 130
    except Exception as exc:
        # Typer vendors click, so usage errors are recognised by shape, not by class.
        if type(exc).__name__ == "Abort":
            return 130
        message, code = getattr(exc, "format_message", None), getattr(exc, "exit_code", None)
        if callable(message) and isinstance(code, int):
            # A usage error: one line, not click's usage box.
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "aoetl"
            text = " ".join(str(message()).split())
            show = getattr(exc, "show", None)
            if not text and callable(show):  # no arguments at all: the help is the answer
                show()
                return code
            err.print(
                f"error: {text} (see '{where} --help')",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            return code
        _print_error(f"{type(exc).__name__}: {exc} (run with -v for the traceback)")
        return 1


def _print_error(message: str) -> None:
    """One redacted line; with -v, the redacted traceback first."""
    from ..secrets import redact

    if _state["verbose"]:
        import traceback

        err.print(redact(traceback.format_exc()), markup=False, highlight=False)
    err.print(f"error: {redact(message)}", markup=False, highlight=False, soft_wrap=True)

"""How a command reports failure: one readable line with what to do, never a traceback; and its exit code.

Exit codes scripts can rely on (listed in `lsi --help` and the README):
  0 complete; 1 other error; 2 invalid input; 3 partial (a figure is missing a district or withheld);
  4 refused (budget or permission); 5 unreachable (a node or the coordinator)."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import click
import grpc

from analysis.client import NoServingNodeError

OK = 0
ERROR = 1
INVALID_INPUT = 2
PARTIAL = 3
REFUSED = 4
UNREACHABLE = 5

EXIT_CODES_HELP = """\b
Exit codes:
  0  complete
  1  other error
  2  invalid input
  3  partial (a district missing, or a county figure withheld below the quorum)
  4  refused (budget or permission)
  5  unreachable (a node or the coordinator)"""

_BY_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: INVALID_INPUT,
    grpc.StatusCode.ALREADY_EXISTS: INVALID_INPUT,
    grpc.StatusCode.NOT_FOUND: INVALID_INPUT,
    grpc.StatusCode.OUT_OF_RANGE: INVALID_INPUT,
    grpc.StatusCode.RESOURCE_EXHAUSTED: REFUSED,
    grpc.StatusCode.PERMISSION_DENIED: REFUSED,
    grpc.StatusCode.UNAUTHENTICATED: REFUSED,
    grpc.StatusCode.FAILED_PRECONDITION: REFUSED,
    grpc.StatusCode.UNAVAILABLE: UNREACHABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED: UNREACHABLE,
}


class CommandFailed(click.ClickException):
    """A failure with a message for the terminal; subclasses carry the exit code that classifies it."""


def _failure(code: int) -> type[CommandFailed]:
    return type(f"Failed{code}", (CommandFailed,), {"exit_code": code})


_FAILURES = {code: _failure(code) for code in (ERROR, INVALID_INPUT, PARTIAL, REFUSED, UNREACHABLE)}


def fail(message: str, exit_code: int = ERROR) -> NoReturn:
    """Stop the command with a message for the terminal and an exit code (default 1)."""
    raise _FAILURES.get(exit_code, CommandFailed)(message)


@dataclass(frozen=True)
class Failure:
    """What a user-facing failure says and the exit code it ends with."""

    message: str
    exit_code: int


def explain(exc: BaseException) -> Failure:
    """One message for an error no command caught: what failed, where, and what to do."""
    from common.config import ConfigError

    text = str(exc)
    if isinstance(exc, ConfigError):
        return Failure(text, INVALID_INPUT)
    if isinstance(exc, sqlite3.DatabaseError):
        return Failure(
            f"a state database could not be read ({text}): it may be damaged or not an lsi database; stop the "
            "server, restore the file from its backup (docs/deploying.md) and start again",
            ERROR,
        )
    if isinstance(exc, RuntimeError) and "bind" in text.lower():
        return Failure(
            f"could not listen ({text}): the port is in use by another process, or the address is not this "
            "machine's; stop the other process or set another `listen` address in the configuration file",
            ERROR,
        )
    if isinstance(exc, FileNotFoundError):
        return Failure(f"{exc.filename}: no such file; check the path in the command or configuration", INVALID_INPUT)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return Failure(f"{where}{exc.strerror or text}", ERROR)
    if isinstance(exc, ValueError | KeyError):
        return Failure(text.strip("'\""), INVALID_INPUT)
    return Failure(f"{type(exc).__name__}: {text}", ERROR)


def exit_code_for(status: grpc.StatusCode) -> int:
    """The exit code a failed call's status maps to."""
    return _BY_STATUS.get(status, ERROR)


def finish(code: int) -> None:
    """End a command that printed its answer with a non-zero code when the answer is partial."""
    if code != OK:
        raise click.exceptions.Exit(code)


def grpc_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a failed call into one readable line with its status, instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except grpc.RpcError as exc:
            code = exc.code()
            hint = ""
            if code == grpc.StatusCode.UNAVAILABLE:
                hint = " (is it running? a refused certificate looks the same: try `lsi status`)"
            elif code == grpc.StatusCode.UNIMPLEMENTED:
                hint = (
                    " (that address is not a district node, probably the coordinator: name the node with "
                    "--district NAME, or give the node's own --address)"
                )
            fail(f"{code.name}: {exc.details()}{hint}", exit_code_for(code))
        except NoServingNodeError as exc:
            fail(str(exc), UNREACHABLE)

    return wrapper

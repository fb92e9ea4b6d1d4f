"""How a command reports failure: one readable line with what to do, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NoReturn

import click
import grpc

from analysis.client import NoServingNodeError


def fail(message: str) -> NoReturn:
    """Stop the command with a message for the terminal (exit code 1)."""
    raise click.ClickException(message)


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
            fail(f"{code.name}: {exc.details()}{hint}")
        except NoServingNodeError as exc:
            fail(str(exc))

    return wrapper

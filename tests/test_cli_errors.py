"""The CLI's one error mapping: a failed call becomes one readable line naming its status, never a traceback."""

from __future__ import annotations

import click
import grpc
import pytest

from analysis.client import NoServingNodeError
from cli.errors import grpc_errors


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def raising(exc: Exception):
    @grpc_errors
    def command() -> None:
        raise exc

    return command


def test_a_refused_call_is_one_line_with_its_status_name() -> None:
    with pytest.raises(click.ClickException, match=r"^RESOURCE_EXHAUSTED: over budget$"):
        raising(FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "over budget"))()


def test_an_unreachable_server_gets_a_hint_about_what_to_check() -> None:
    with pytest.raises(click.ClickException, match=r"UNAVAILABLE: down \(is it running\?"):
        raising(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "down"))()


def test_no_serving_node_is_a_readable_error_too() -> None:
    with pytest.raises(click.ClickException, match="no district node is serving"):
        raising(NoServingNodeError("no district node is serving"))()


def test_other_errors_are_not_hidden() -> None:
    with pytest.raises(ZeroDivisionError):
        raising(ZeroDivisionError())()

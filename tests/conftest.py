import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
# No test asserts wall-clock time: hypothesis's per-example deadline would fail a correct test on a busy 2-core CI.
settings.register_profile("project", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("project")

from tests.county import RunningCounty, running_county  # noqa: E402


@pytest.fixture(autouse=True)
def no_client_profile(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """An `lsi` profile on the machine running the tests must not change what they connect to."""
    monkeypatch.delenv("LSI_PROFILE", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.getbasetemp() / "no-config-home"))


@pytest.fixture(scope="session")
def county(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCounty]:
    """Twelve district nodes and a coordinator, in process, over mutual TLS, with a generous budget: half the
    nodes dialled by the coordinator, half dialling out to it, so every test on this county covers both modes."""
    with running_county(tmp_path_factory.mktemp("county"), mode="mixed") as running:
        yield running

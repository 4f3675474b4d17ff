"""Agents started by a test are killed at its end; their log is printed when the test failed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.agent.helpers import AgentProcess


@pytest.fixture
def start_agent(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., AgentProcess]]:
    """``start_agent(config_text, args=[...])`` → a running AgentProcess in ``tmp_path``."""
    agents: list[AgentProcess] = []

    def start(config: str, *, args: list[str] | None = None, workdir: Path | None = None) -> AgentProcess:
        agent = AgentProcess(workdir or tmp_path, config, args=args).start()
        agents.append(agent)
        return agent

    yield start
    failed = getattr(request.node, "rep_call", None)
    for agent in agents:
        agent.stop()
        if failed is not None and failed.failed:
            print(f"--- agent log ({agent.log_path}) ---\n{agent.log()}--- end ---")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]

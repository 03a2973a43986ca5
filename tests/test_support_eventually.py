"""tests/support/eventually.py: the one way tests wait, and that it stays the one way."""

from __future__ import annotations

import ast
import asyncio
import re
import threading
from pathlib import Path

import pytest

from tests.support import eventually as module
from tests.support.eventually import NotEventually, eventually, eventually_sync, within

TESTS = Path(__file__).parent
# The only file whose loops may sleep without saying why: the waits themselves.
ALLOWED = {TESTS / "support" / "eventually.py"}
MARKER = "# not a wait:"
SLEEPS = {"sleep", "wait_for_timeout"}


@pytest.fixture
def short_patience(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "PATIENCE_SECONDS", 0.3)


class Counter:
    """A check that is not there yet for its first ``misses`` calls."""

    def __init__(self, misses: int) -> None:
        self.misses = misses
        self.calls = 0

    def value(self) -> str | None:
        self.calls += 1
        return None if self.calls <= self.misses else f"found at call {self.calls}"

    def asserting(self) -> int:
        self.calls += 1
        assert self.calls > self.misses, f"only {self.calls} calls"
        return self.calls


async def test_the_first_true_value_is_returned() -> None:
    counter = Counter(misses=3)

    async def check() -> str | None:
        return counter.value()

    assert await eventually(check, what="the counter") == "found at call 4"


async def test_a_plain_function_is_a_check_too() -> None:
    counter = Counter(misses=2)
    assert await eventually(counter.value, what="the counter") == "found at call 3"


async def test_an_assertion_is_tried_again_until_it_holds() -> None:
    counter = Counter(misses=3)
    assert await eventually(counter.asserting, what="the counter") == 4


def test_the_sync_twin_returns_and_retries_the_same_way() -> None:
    assert eventually_sync(Counter(misses=2).value, what="the counter") == "found at call 3"
    assert eventually_sync(Counter(misses=2).asserting, what="the counter") == 3


@pytest.mark.usefixtures("short_patience")
async def test_a_timeout_names_what_was_awaited_and_the_last_value() -> None:
    with pytest.raises(NotEventually, match=r"^the mail to bob: not within 0.3 s") as failed:
        await eventually(lambda: [], what="the mail to bob")
    assert "LABGATE_TEST_PATIENCE" in str(failed.value)
    assert str(failed.value).endswith("last seen: []")


@pytest.mark.usefixtures("short_patience")
async def test_a_timeout_names_the_last_assertion() -> None:
    counter = Counter(misses=10**9)
    with pytest.raises(NotEventually, match=r"^the counter: .*last assertion: only \d+ calls"):
        await eventually(counter.asserting, what="the counter")
    assert counter.calls > 1


@pytest.mark.usefixtures("short_patience")
def test_the_sync_twin_times_out_the_same_way() -> None:
    with pytest.raises(NotEventually, match=r"^nothing: not within 0.3 s.*last seen: None"):
        eventually_sync(lambda: None, what="nothing")


def test_the_sync_twin_refuses_a_check_that_awaits() -> None:
    async def check() -> bool:
        await asyncio.sleep(0)
        return True

    with pytest.raises(TypeError, match=r"^the job: the check of eventually_sync awaited"):
        eventually_sync(check, what="the job")  # type: ignore[unused-coroutine]


async def test_any_other_error_ends_the_wait_at_once() -> None:
    counter = Counter(misses=0)

    def check() -> None:
        counter.calls += 1
        raise ValueError("the process exited")

    with pytest.raises(ValueError, match="the process exited"):
        await eventually(check, what="a process")
    assert counter.calls == 1


def test_a_grace_says_whether_it_came_in_time() -> None:
    done = threading.Event()
    threading.Timer(0.1, done.set).start()
    assert within(30, done.is_set)
    assert not within(0.1, lambda: False)


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_patience_that_is_not_seconds_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(module.ENVIRONMENT_VARIABLE, value)
    with pytest.raises(ValueError, match=module.ENVIRONMENT_VARIABLE):
        module._patience()


def test_the_patience_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(module.ENVIRONMENT_VARIABLE, "7.5")
    assert module._patience() == 7.5
    monkeypatch.setenv(module.ENVIRONMENT_VARIABLE, "")
    assert module._patience() == module.DEFAULT_PATIENCE_SECONDS


def loops_that_sleep(source: str) -> list[int]:
    """The lines of loops (``while``, ``for``) in ``source`` with a call to ``sleep(``
    (``time.sleep``, ``asyncio.sleep``) or Playwright's ``wait_for_timeout(`` in them
    whose line does not say why."""
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.While | ast.For | ast.AsyncFor):
            continue
        sleeps = any(
            isinstance(inner, ast.Call)
            and (
                (isinstance(inner.func, ast.Attribute) and inner.func.attr in SLEEPS)
                or (isinstance(inner.func, ast.Name) and inner.func.id in SLEEPS)
            )
            for inner in ast.walk(node)
        )
        if sleeps and not re.search(re.escape(MARKER) + r" \S", lines[node.lineno - 1]):
            found.append(node.lineno)
    return sorted(found)


def test_the_scan_finds_a_polling_loop_and_accepts_a_reason() -> None:
    polling = "import time\nwhile not done():\n    time.sleep(0.1)\n"
    assert loops_that_sleep(polling) == [2]
    nested = "async def f():\n    for _ in range(9):\n        if x:\n            await sleep(0)\n"
    assert loops_that_sleep(nested) == [2]
    explained = "import time\nwhile True:  # not a wait: a heartbeat\n    time.sleep(1)\n"
    assert loops_that_sleep(explained) == []
    bare = "import time\nwhile True:  # not a wait:\n    time.sleep(1)\n"
    assert loops_that_sleep(bare) == [2]
    browser = "async def f():\n    while x:\n        await page.wait_for_timeout(100)\n"
    assert loops_that_sleep(browser) == [2]


def test_no_test_polls_by_hand() -> None:
    """Waiting for a condition is eventually()'s; a loop that sleeps says why it is not."""
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{line}"
        for path in sorted(TESTS.rglob("*.py"))
        if path not in ALLOWED
        for line in loops_that_sleep(path.read_text())
    ]
    assert not offenders, (
        f"loops that sleep: {offenders}; wait with tests.support.eventually, or mark "
        f"the loop's line with '{MARKER} <why>'"
    )

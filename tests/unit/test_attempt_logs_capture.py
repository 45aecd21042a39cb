"""Capturing a function's logging records and prints per attempt (workflows.attempt_logs)."""

from __future__ import annotations

import asyncio
import logging

from workflows.attempt_logs import MAX_LINES, capture

# pytest's handlers sit on the root logger (kept at WARNING): functions' loggers say INFO here
logging.getLogger("fn").setLevel(logging.INFO)


async def _attempt(name: str, n: int) -> list[dict[str, str]]:
    log = logging.getLogger(f"fn.{name}")

    def in_thread() -> None:  # asyncio.to_thread copies the context: still this attempt
        print(f"{name} from a thread")

    with capture() as captured:
        for i in range(n):
            log.info("%s line %d", name, i)
            await asyncio.sleep(0)  # the other attempt runs in between
        await asyncio.to_thread(in_thread)
        print(f"{name} printed", end="")
    return captured.result()


async def test_concurrent_attempts_keep_their_own_lines() -> None:
    a, b = await asyncio.gather(_attempt("a", 5), _attempt("b", 7))
    assert [line["message"] for line in a] == [f"a line {i}" for i in range(5)] + [
        "a from a thread",
        "a printed",
    ]
    assert [line["level"] for line in b][:7] == ["INFO"] * 7
    assert {line["logger"] for line in b} == {"fn.b", "stdout"}
    assert len(b) == 9 and all(line["message"].startswith("b") for line in b)


async def test_outside_an_attempt_nothing_is_captured(capsys: object) -> None:
    with capture() as captured:
        pass
    print("after")  # goes to the real stdout
    logging.getLogger("fn.c").warning("not captured")
    assert captured.result() == []


async def test_lines_are_bounded_with_a_note() -> None:
    with capture() as captured:
        for i in range(MAX_LINES + 50):
            logging.getLogger("fn.many").info("line %d", i)
        logging.getLogger("fn.many").info("x" * 5000)
    lines = captured.result()
    assert len(lines) == MAX_LINES + 1
    assert lines[-1]["level"] == "NOTE" and lines[-1]["message"].startswith("… 51 more lines")


async def test_an_exception_is_logged_with_its_traceback() -> None:
    with capture() as captured:
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("fn.err").exception("failed")
    (line,) = captured.result()
    assert line["level"] == "ERROR" and "ValueError: boom" in line["message"]

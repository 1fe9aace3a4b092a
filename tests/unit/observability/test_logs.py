"""Every process logs JSON lines: structlog's and the standard library's records alike."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from services.common.logs import configure_logging

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.contextvars.clear_contextvars()


def json_lines(err: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_stdlib_and_structlog_records_are_one_json_object_per_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    structlog.contextvars.bind_contextvars(consumer="qms.capa")
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    logging.getLogger("aiokafka.consumer.group_coordinator").warning("heartbeat failed")
    structlog.get_logger("qms.intake").info("request", status=202)
    lines = json_lines(capsys.readouterr().err)
    assert [(line["logger"], line["event"], line["level"]) for line in lines] == [
        ("uvicorn.error", "Started server process [42]", "info"),
        ("aiokafka.consumer.group_coordinator", "heartbeat failed", "warning"),
        ("qms.intake", "request", "info"),
    ]
    assert all(line["consumer"] == "qms.capa" and "timestamp" in line for line in lines)
    assert lines[2]["status"] == 202


def test_framework_loggers_configured_elsewhere_still_go_through_the_one_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    uvicorn = logging.getLogger("uvicorn.error")
    uvicorn.setLevel(logging.WARNING)  # as an earlier uvicorn config may have left it
    uvicorn.propagate = False
    configure_logging("INFO", json=True)
    uvicorn.info("Started server process [%d]", 7)
    [line] = json_lines(capsys.readouterr().err)
    assert (line["logger"], line["event"]) == ("uvicorn.error", "Started server process [7]")


def test_exceptions_are_inside_the_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    try:
        raise ValueError("broken record")
    except ValueError:
        logging.getLogger("faust.agents").exception("agent crashed")
    [line] = json_lines(capsys.readouterr().err)
    assert "ValueError: broken record" in str(line["exception"])


def test_the_level_filters_and_a_second_call_replaces_the_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", json=True)
    configure_logging("WARNING", json=True)
    logging.getLogger("mode").info("hidden")
    logging.getLogger("mode").warning("shown")
    assert [line["event"] for line in json_lines(capsys.readouterr().err)] == ["shown"]


def test_console_format_is_not_json(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=False)
    logging.getLogger("qms.ledger").info("checkpoint %s", "dossier/0")
    err = capsys.readouterr().err
    assert "checkpoint dossier/0" in err and not err.lstrip().startswith("{")

"""The server log: settings, hclog-shaped JSON lines, archiving rotation, SIGHUP level reload."""

from __future__ import annotations

import json
import logging
import signal
import time
from pathlib import Path

import pytest

from tessera.server.logs import ArchivingFileHandler, JSONFormatter, LogConfigError, log_settings
from tests.helpers.servers import TesseraServer, free_port, hcl_config


def test_settings_and_their_errors() -> None:
    settings = log_settings(
        {
            "log_level": "WARN",
            "log_format": "json",
            "log_file": "/x/",
            "log_rotate_bytes": "1024",
            "log_rotate_max_files": 3,
        },
        "",
    )
    assert (
        settings.level,
        settings.format,
        settings.file,
        settings.rotate_bytes,
        settings.rotate_max_files,
    ) == (
        "warn",
        "json",
        "/x/",
        1024,
        3,
    )
    assert log_settings({"log_level": "warn"}, "debug").level == "debug"  # the flag wins
    for raw, message in (
        ({"log_level": "loud"}, 'unknown log level: "loud"'),
        ({"log_format": "xml"}, 'unknown log format: "xml"'),
        ({"log_rotate_bytes": "lots"}, "log_rotate_bytes: expected a whole number"),
        ({"log_rotate_max_files": -2}, "log_rotate_max_files must be -1 or more"),
    ):
        with pytest.raises(LogConfigError, match=message):
            log_settings(raw)


def test_json_lines_carry_hclogs_keys() -> None:
    record = logging.LogRecord("tessera.core", logging.WARNING, __file__, 1, "sealed: %s", ("now",), None)
    doc = json.loads(JSONFormatter().format(record))
    assert set(doc) == {"@level", "@message", "@module", "@timestamp"}
    assert (doc["@level"], doc["@message"], doc["@module"]) == ("warn", "sealed: now", "tessera.core")
    assert doc["@timestamp"].endswith("Z")


@pytest.mark.parametrize(("max_files", "archives"), [(2, 2), (-1, 0), (0, 5)])
def test_rotation_archives_and_prunes(tmp_path: Path, max_files: int, archives: int) -> None:
    handler = ArchivingFileHandler(str(tmp_path / "tessera.log"), max_bytes=100, max_files=max_files)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger(f"test-rotation-{max_files}")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for i in range(6):
            logger.warning("line %d %s", i, "x" * 80)  # each line is past the limit: one file per line
    finally:
        logger.removeHandler(handler)
        handler.close()
    kept = sorted(tmp_path.glob("tessera-*.log"))
    assert len(kept) == archives
    assert "line 5" in (tmp_path / "tessera.log").read_text()
    if kept:
        assert "line 4" in kept[-1].read_text()  # the newest archive holds the line before


def _wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_json_log_file_and_sighup_reloads_the_level(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    config = tmp_path / "server.hcl"
    settings = f'log_format = "json"\nlog_file = "{log_dir}/"\n'
    config.write_text(hcl_config(free_port(), extra=settings + 'log_level = "error"\n'))
    server = TesseraServer(config=config).start()
    try:
        log_file = log_dir / "tessera.log"
        assert log_file.exists()
        config.write_text(hcl_config(server.port, extra=settings + 'log_level = "info"\n'))
        server.process.send_signal(signal.SIGHUP)
        assert _wait_for(lambda: "log level is now info" in log_file.read_text()), log_file.read_text()
        lines = [json.loads(line) for line in log_file.read_text().splitlines()]
        assert {
            "@level": "info",
            "@module": "tessera.server",
            "@message": "log level is now info",
        }.items() <= (lines[-1].items())
        # At level error the SIGHUP notice itself (info) was not written.
        assert not any("SIGHUP received" in line["@message"] for line in lines)
    finally:
        server.cleanup()


def test_a_bad_log_setting_stops_the_server_plainly(tmp_path: Path) -> None:
    config = tmp_path / "server.hcl"
    config.write_text(hcl_config(free_port(), extra='log_format = "xml"\n'))
    server = TesseraServer(config=config)
    with pytest.raises(Exception):  # noqa: B017 - ServerStartError; the output is what matters
        server.start()
    assert 'Error setting up the server log: unknown log format: "xml"' in server.output()
    server.cleanup()

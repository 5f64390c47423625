"""Log lines fit for where they land: journald priorities under systemd, JSON for collectors,
levels from -v/-q given before or after the subcommand."""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent import logs
from agent.cli import cli

CONFIG = """\
agent: {state_dir: state, metrics_file: m.prom, scratch_dir: scratch}
processes: {p: {rpo: 1h, rto: 4h}}
targets: {here: {kind: local, medium: ssd, location: office, require_mount: false}}
datasets: {d: {process: p, primary: {target: here, form: files, path: data}}}
"""


def record(level: int, message: str, exc: bool = False) -> logging.LogRecord:
    info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            info = sys.exc_info()
    return logging.LogRecord("backup-agent.run", level, __file__, 1, message, (), info)


@pytest.mark.parametrize(("level", "prefix"), [(logging.DEBUG, "<7>"), (logging.INFO, "<6>"),
                                               (logging.WARNING, "<4>"), (logging.ERROR, "<3>"),
                                               (logging.CRITICAL, "<2>")])
def test_journal_lines_carry_the_syslog_priority(level: int, prefix: str) -> None:
    line = logs.JournalFormatter().format(record(level, "target nas unreachable"))
    assert line == f"{prefix}backup-agent.run: target nas unreachable"


def test_every_line_of_a_traceback_keeps_its_priority() -> None:
    text = logs.JournalFormatter().format(record(logging.ERROR, "check crashed", exc=True))
    assert len(text.splitlines()) > 2 and all(line.startswith("<3>") for line in text.splitlines())


def test_json_lines_parse() -> None:
    document = json.loads(logs.JsonFormatter().format(record(logging.WARNING, "副本 nas: 超时")))
    assert document["level"] == "warning" and document["message"] == "副本 nas: 超时"
    assert document["logger"] == "backup-agent.run" and document["time"].endswith("Z")


def test_journald_is_recognised_by_the_stream_it_gave_us(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with open(tmp_path / "stream", "w") as stream:
        status = os.fstat(stream.fileno())
        monkeypatch.setattr(sys, "stderr", stream)
        monkeypatch.setenv("JOURNAL_STREAM", f"{status.st_dev}:{status.st_ino}")
        assert logs.under_journald()
        monkeypatch.setenv("JOURNAL_STREAM", f"{status.st_dev}:{status.st_ino + 1}")
        assert not logs.under_journald(), "a child whose stderr was redirected elsewhere is not on the journal"


@pytest.mark.parametrize(("verbose", "quiet", "level"), [(0, 0, logging.WARNING), (1, 0, logging.INFO),
                                                         (2, 0, logging.DEBUG), (5, 0, logging.DEBUG),
                                                         (0, 1, logging.ERROR), (0, 3, logging.CRITICAL)])
def test_levels(verbose: int, quiet: int, level: int) -> None:
    assert logs.level_for(verbose, quiet) == level


@pytest.mark.parametrize("args", [["-v", "config", "check"], ["config", "check", "-v"], ["config", "check", "-vv"]])
def test_verbosity_is_accepted_before_and_after_the_subcommand(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "targets.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "data").mkdir()  # config check checks that local copy paths exist
    outcome = CliRunner().invoke(cli, ["--config", str(tmp_path / "targets.yaml"), *args])
    assert outcome.exit_code == 0, outcome.output
    assert logging.getLogger().level <= logging.INFO


def test_quiet_after_the_subcommand(tmp_path: Path) -> None:
    (tmp_path / "targets.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "data").mkdir()  # config check checks that local copy paths exist
    outcome = CliRunner().invoke(cli, ["--config", str(tmp_path / "targets.yaml"), "config", "check", "-q"])
    assert outcome.exit_code == 0, outcome.output
    assert logging.getLogger().level == logging.ERROR

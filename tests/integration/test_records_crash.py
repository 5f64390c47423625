"""QEF-19-05 records after a real crash: a process SIGKILLed inside an append (between two INSERTs,
or right after the head was written for an append that never committed) leaves a store whose chain
verifies and takes the next append. A real process is killed, so these live here and not with the
in-process records tests (tests/unit/test_records.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from agent.records import RecordStore
from tests.support.records import copy_store, db_path, head_file, make_rows, write_store
from tests.support.records import records_cli as cli


@pytest.fixture(scope="module")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_store(tmp_path_factory.mktemp("records-template"))


@pytest.fixture()
def store_dir(tmp_path: Path, store_template: Path) -> Path:
    """A config whose records store holds 12 records over three days."""
    return copy_store(store_template, tmp_path)


def test_process_killed_inside_the_append_transaction_leaves_the_store_consistent(store_dir: Path) -> None:
    """A real SIGKILL between two INSERTs of one run: the next open sees the 12 records before it."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from tests.support.records import make_rows
        from agent.records import RecordStore
        def rows():
            yield from make_rows(3, first=13)
            os.kill(os.getpid(), signal.SIGKILL)
        RecordStore({str(db_path(store_dir))!r}).append(rows())
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == -9, result.stderr.decode()
    with RecordStore(db_path(store_dir)) as store:
        report = store.verify_chain()
        assert report.ok and report.records == 12
        assert store.append(make_rows(1, first=13)) == (13, 13)
    assert cli(store_dir, "verify").returncode == 0




def test_a_crash_between_the_pending_head_and_the_commit_leaves_a_consistent_chain(store_dir: Path) -> None:
    """SIGKILL right after the head was written for an append that never committed: the head names
    the record it built on, so `records verify` stays intact and the next append goes on."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        from tests.support.records import make_rows
        from agent import chain_head
        from agent.records import RecordStore
        real = chain_head.write_head
        def write_then_die(store, head):
            real(store, head)
            os.kill(os.getpid(), signal.SIGKILL)
        chain_head.write_head = write_then_die
        RecordStore({str(db_path(store_dir))!r}).append(make_rows(3, first=13))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == -9, result.stderr.decode()
    assert json.loads(head_file(store_dir).read_text())["pending"] is True
    assert cli(store_dir, "verify").returncode == 0
    with RecordStore(db_path(store_dir)) as store:
        assert store.append(make_rows(1, first=13)) == (13, 13)
    assert "pending" not in json.loads(head_file(store_dir).read_text())
    assert cli(store_dir, "verify").returncode == 0

"""The monthly QEF-19-05 report, from 30 days of records made by the real pipeline.

The store is produced once per module: a local sandbox (plain mirrors on local stand-in targets
and one real restic repository), and for each day of October 2026 the time is injected with
$BACKUP_AGENT_NOW and the real agent.run.run_verification runs, its rows appended with the real
RecordStore. Some days breach and recover: a stale HDD stamp (day 5), a file missing from the NAS
mirror (days 12-13), no restic snapshot within the RPO (day 20), the offsite mirror gone (day 25).
Day 31 has no run. The KPI is then checked against values computed here from the RunResults,
independently of reports/. The HTML and PDF are rendered through the CLI; pdffonts and pdftoppm
(Debian's poppler-utils) inspect the PDF. Nothing is mocked.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from agent.config import load_config
from agent.records import FIELDS, RecordStore, export_csv, rows_for_run
from agent.run import run_verification
from reports import build_report
from reports.monthly import MET, NO_RECORD, NOT_MET
from reports.render_html import render_html

MONTH = "2026-10"
DAYS_RUN = 30  # October 1-30; the 31st has no record
GENERATED_AT = "2026-11-01T08:00:00Z"
PASSWORD = "report test 19-05"
# The breaches this fixture makes, per dataset: day -> what is broken that day.
BREACHES = {
    "platform-db": {5: "hdd stamp 3h old (RPO 1h)", 12: "file missing on nas", 13: "file missing on nas"},
    "finance-records": {20: "no restic snapshot for 25h (RPO 24h)", 25: "offsite mirror gone"},
}
OLD = datetime(2026, 9, 1, tzinfo=UTC).timestamp()  # data files' mtime: older than every sync

CONFIG = """\
agent:
  state_dir: {root}/state
  metrics_file: {root}/metrics/backup_agent.prom
  scratch_dir: {root}/scratch
  operator: 王婧 (test)
  host: report-test
  concurrency: 4
policy: {{copies: 3, media: 2, offsite: 1}}
processes:
  lithera-platform: {{name: "Lithera 平台 / Lithera platform", rpo: 1h, rto: 4h}}
  finance-payments: {{name: "财务付款 / Finance payments", rpo: 24h, rto: 48h}}
targets:
  droplet: {{kind: local, medium: cloud-vm, location: do-sgp1, require_mount: false}}
  nas:     {{kind: local, medium: nas, location: office, require_mount: false}}
  ssd:     {{kind: local, medium: ssd, location: office, require_mount: false}}
  hdd:     {{kind: local, medium: hdd, location: kc-home, require_mount: false}}
  offsite: {{kind: local, medium: object-storage, location: cloud-hk, require_mount: false}}
datasets:
  platform-db:
    process: lithera-platform
    primary: {{target: droplet, form: files, path: {root}/droplet/platform-db}}
    copies:
      - {{target: hdd, form: files, path: {root}/hdd/platform-db, stamp: .last-sync}}
      - {{target: nas, form: files, path: {root}/nas/platform-db, stamp: .last-sync}}
  finance-records:
    process: finance-payments
    primary: {{target: droplet, form: files, path: {root}/droplet/finance}}
    copies:
      - {{target: ssd, form: restic, path: {root}/ssd/restic, password_file: {root}/restic.pass}}
      - {{target: offsite, form: files, path: {root}/offsite/finance, stamp: .last-sync}}
"""


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    for relative, content in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        os.utime(path, (OLD, OLD))


def _touch(path: Path, moment: datetime) -> None:
    path.write_text(f"synced {moment.isoformat()}\n")
    os.utime(path, (moment.timestamp(), moment.timestamp()))


def _date_new_files(repo: Path, when: datetime) -> None:
    """Date the files a backup just wrote at the simulated night's time, as that night's backup would
    have (restic-read-data counts a pack read only when its group was read after the pack appeared)."""
    stamp = when.timestamp()
    for path in repo.rglob("*"):
        if path.is_file() and path.stat().st_mtime > stamp:
            os.utime(path, (stamp, stamp))


def _restic(root: Path, *args: str) -> None:
    env = {**os.environ, "RESTIC_PASSWORD_FILE": str(root / "restic.pass"),
           "RESTIC_CACHE_DIR": str(root / "test-restic-cache")}
    done = subprocess.run(["restic", "--repo", str(root / "ssd" / "restic"), *args], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"restic {args} failed: {done.stderr}"


class Month:
    """The produced store and what the test knows independently about it."""

    def __init__(self, root: Path):
        self.root = root
        self.config_path = root / "targets.yaml"
        self.store_path = root / "state" / "records.sqlite"
        # (dataset, day) -> list of policy verdicts from the RunResults, not from the store
        self.compliant: dict[tuple[str, date], list[bool]] = defaultdict(list)
        # (dataset, target) -> [checks run (not skipped), checks passed]
        self.checks: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Month:
    if shutil.which("restic") is None:
        pytest.skip("restic is not installed (apt-get install restic)")
    root = tmp_path_factory.mktemp("report-month")
    produced = Month(root)
    _write_tree(root / "droplet" / "platform-db", {
        "lithera-2026-10.sql": b"-- dump\n" + b"INSERT INTO orders VALUES (1);\n" * 500,
        "blobs/coa-0001.pdf": b"%PDF-1.4\n" + bytes(range(256)) * 40,
        "blobs/出货单.txt": "出货 / shipping note\n".encode(),
    })
    _write_tree(root / "droplet" / "finance", {
        "2026/payments-10.csv": b"date,amount\n" + b"2026-10-01,100\n" * 300,
        "2026/invoice-0007.pdf": b"%PDF-1.4\n" + bytes(range(256)) * 20,
    })
    for target, dataset in (("hdd", "platform-db"), ("nas", "platform-db"), ("offsite", "finance")):
        shutil.copytree(root / "droplet" / dataset, root / target / dataset, copy_function=shutil.copy2)
    (root / "restic.pass").write_text(PASSWORD + "\n")
    (root / "restic.pass").chmod(0o600)
    _restic(root, "init")
    produced.config_path.write_text(CONFIG.format(root=root), encoding="utf-8")
    config = load_config(produced.config_path)
    missing = root / "nas" / "platform-db" / "blobs" / "coa-0001.pdf"
    parked = root / "parked-coa-0001.pdf"

    saved_now = os.environ.get("BACKUP_AGENT_NOW")
    try:
        with RecordStore(config.agent.records_db) as store:
            for day in range(1, DAYS_RUN + 1):
                now = datetime(2026, 10, day, 2, 0, tzinfo=UTC)
                # The nightly syncs: mirrors 20 minutes ago, restic an hour ago (none on day 20).
                _touch(root / "hdd" / "platform-db" / ".last-sync",
                       now - timedelta(hours=3 if day == 5 else 0, minutes=20))
                _touch(root / "nas" / "platform-db" / ".last-sync", now - timedelta(minutes=20))
                if day != 20:
                    _restic(root, "backup", "--host", "droplet-b", "--time",
                            (now - timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S"), str(root / "droplet" / "finance"))
                    _date_new_files(root / "ssd" / "restic", now - timedelta(hours=1))
                if day == 12:
                    shutil.move(missing, parked)
                if day == 14:
                    shutil.move(parked, missing)
                if day == 25:
                    (root / "offsite" / "finance").rename(root / "offsite" / "finance-gone")
                if day == 26:
                    (root / "offsite" / "finance-gone").rename(root / "offsite" / "finance")
                if day != 25:
                    _touch(root / "offsite" / "finance" / ".last-sync", now - timedelta(minutes=20))

                os.environ["BACKUP_AGENT_NOW"] = now.isoformat()
                run = run_verification(config, list(config.datasets.values()))
                store.append(rows_for_run(run))
                run.state.save()
                for result in run.datasets:
                    produced.compliant[(result.dataset.name, now.date())].append(result.policy.measured["compliant"])
                    for copy in result.copies:
                        tally = produced.checks[(result.dataset.name, copy.spec.target.name)]
                        tally[0] += sum(1 for c in copy.checks if c.status != "skip")
                        tally[1] += sum(1 for c in copy.checks if c.status == "pass")
    finally:
        if saved_now is None:
            os.environ.pop("BACKUP_AGENT_NOW", None)
        else:
            os.environ["BACKUP_AGENT_NOW"] = saved_now
    return produced


def _cli(*args: str, env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess:
    """Run the real CLI; env entries override the inherited environment, None removes one."""
    environment = {k: v for k, v in os.environ.items() if k != "BACKUP_AGENT_NOW"}
    for name, value in (env or {}).items():
        if value is None:
            environment.pop(name, None)
        else:
            environment[name] = value
    return subprocess.run([sys.executable, "-c", "from agent.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300, env=environment)


def _source_digests() -> dict[str, str]:
    """SHA-256 of every file under reports/ — to tell a real difference from code edited mid-run."""
    root = Path(__file__).resolve().parents[2] / "reports"
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


# What this pytest process imported (collection time): a full-suite run takes minutes, and a
# change to reports/ on disk meanwhile reaches the CLI subprocesses but not the in-process render.
SOURCES_AT_IMPORT = _source_digests()


def _report(month: Month, generated_at: str = GENERATED_AT):
    with RecordStore(month.store_path) as store:
        return build_report(store, MONTH, datetime.fromisoformat(generated_at.replace("Z", "+00:00")))


def test_the_pipeline_breached_on_the_planned_days(month: Month) -> None:
    """The fixture's own sanity: the real checks saw exactly the breaches it made."""
    for (dataset, day), verdicts in month.compliant.items():
        assert verdicts == [day.day not in BREACHES[dataset]], (dataset, day)


def test_kpi_matches_values_computed_from_the_runs(month: Month) -> None:
    report = _report(month)
    datasets = sorted({d for d, _ in month.compliant})
    days = [date(2026, 10, 1) + timedelta(days=i) for i in range(31)]
    met = sum(1 for d in datasets for day in days if month.compliant.get((d, day)) and all(month.compliant[(d, day)]))
    not_met = sum(1 for d in datasets for day in days if month.compliant.get((d, day)) and not all(month.compliant[(d, day)]))
    no_record = sum(1 for d in datasets for day in days if (d, day) not in month.compliant)
    assert (met, not_met, no_record) == (55, 5, 2)  # 2 datasets × 31 days; the 31st has no run

    kpi = report.completeness
    assert (kpi.met, kpi.not_met, kpi.no_record, kpi.counted) == (met, not_met, no_record, len(datasets) * 31)
    assert kpi.rate == pytest.approx(met / (len(datasets) * 31))
    assert not kpi.target_met
    assert report.rto.rate is None  # no restore test or drill yet: "no data", never 100 %
    assert report.days_without_records == 1 and report.days_counted == 31
    assert report.runs == DAYS_RUN
    assert report.chain.ok

    for section in report.datasets:
        strip = {d.day.day: d.status for d in section.days}
        assert [day for day, status in strip.items() if status == NOT_MET] == sorted(BREACHES[section.name])
        assert strip[31] == NO_RECORD and strip[1] == MET
        for copy in section.copies:
            run, passed = month.checks[(section.name, copy.target)]
            assert (copy.checks_run, copy.checks_passed) == (run, passed), copy.label
    platform = next(s for s in report.datasets if s.name == "platform-db")
    hdd = next(c for c in platform.copies if c.target == "hdd")
    assert hdd.worst_age_seconds == pytest.approx(3 * 3600 + 20 * 60, abs=5)
    assert hdd.runs_over_rpo == 1 and hdd.runs == DAYS_RUN
    finance = next(s for s in report.datasets if s.name == "finance-records")
    ssd = next(c for c in finance.copies if c.target == "ssd")
    assert ssd.worst_age_seconds == pytest.approx(25 * 3600, abs=5)
    assert ssd.read_data_latest is not None and ssd.read_data_latest > ssd.read_data_lowest
    assert ssd.packs_latest == 1.0  # (issue 18) restic-packs: every byte hashed against its name

    html = render_html(report)
    expected = f"{met / (len(datasets) * 31) * 100:.1f} %"
    assert f'<td class="num" id="kpi-completeness">{expected}' in html
    assert "无数据 / no data" in html.split('id="kpi-rto"')[1][:40]
    assert 'id="partial-month"' in html and "本月无演练 / No drills this month" in html


def test_exceptions_list_every_failure_with_its_recovery(month: Month) -> None:
    report = _report(month)
    by_check = {(e.kind, e.dataset, e.copy.split(" ")[0], e.check): e for e in report.exceptions}
    stale = by_check[("check", "platform-db", "hdd", "freshness")]
    assert len(stale.records) == 1 and stale.first_at.day == 5 and stale.recovered_at.day == 6
    missing = by_check[("check", "platform-db", "nas", "files-checksum")]
    assert len(missing.records) == 2 and "coa-0001.pdf" in missing.detail and missing.recovered_at.day == 14
    restic_stale = by_check[("check", "finance-records", "ssd", "freshness")]
    assert restic_stale.first_at.day == 20 and restic_stale.recovered_at.day == 21
    gone = by_check[("check", "finance-records", "offsite", "reachable")]
    assert gone.result == "error" and gone.recovered_at.day == 26
    verdicts = [e for e in report.exceptions if e.kind == "dataset"]
    assert sorted(e.first_at.day for e in verdicts) == [5, 12, 20, 25]
    assert all(e.recovered_record for e in report.exceptions)
    # Every failing or erroring check record of the month is listed by number.
    with RecordStore(month.store_path) as store:
        failing = {r["record_no"] for r in store.rows(since="2026-10-01", until="2026-11-01", kind="check")
                   if r["result"] in ("fail", "error")}
    assert failing == {n for e in report.exceptions if e.kind == "check" for n in e.records}
    html = render_html(report)
    for number in failing:
        assert f"#{number}" in html


def test_company_comes_from_the_configuration(month: Month) -> None:
    report = _report(month)
    named = render_html(report, "Acme 化工贸易")
    assert "Acme 化工贸易" in named and "Lithera" not in named.split("<body")[1].split("数据集 / Dataset")[0]
    unnamed = render_html(report)
    assert '<tr><th>公司 / Company</th><td>—</td></tr>' in unnamed


def test_cli_writes_html_pdf_csv_with_embedded_cjk_font(month: Month, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _cli("--config", str(month.config_path), "report", "--month", MONTH, "--out", str(out),
                "--generated-at", GENERATED_AT)
    assert done.returncode == 0, done.stderr
    html, pdf, csv = (out / f"QEF-19-05_{MONTH}.{ext}" for ext in ("html", "pdf", "csv"))
    assert done.stdout.split() == [str(html), str(pdf), str(csv)]

    text = html.read_text(encoding="utf-8")
    assert "data:image/png;base64," in text and "数据 3 处备份完整率" in text and "2026-11-01 08:00 UTC" in text

    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    cjk = [line for line in fonts.splitlines() if "CJK" in line]
    assert cjk, fonts
    assert all(line.split()[-5] == "yes" for line in cjk), fonts  # the "emb" column
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "(A4)" in info, info
    pages = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    words = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "QEF-19-05" in words and f"Page {pages} of {pages}" in words and "数据备份验证记录" in words
    assert "记录链校验" in words and "完整 / intact" in words

    subprocess.run(["pdftoppm", "-png", "-r", "60", str(pdf), str(tmp_path / "page")], check=True)
    rendered = sorted(tmp_path.glob("page-*.png"))
    assert len(rendered) == pages and all(p.stat().st_size > 10_000 for p in rendered)
    if os.environ.get("REPORT_PAGES_DIR"):  # to look at them: REPORT_PAGES_DIR=/tmp/pages pytest ...
        target = Path(os.environ["REPORT_PAGES_DIR"])
        target.mkdir(parents=True, exist_ok=True)
        for path in (*rendered, html, pdf):
            shutil.copy(path, target / path.name)

    data = csv.read_bytes()
    assert data.startswith("\ufeff".encode())
    with RecordStore(month.store_path) as store:
        rows = list(store.rows(since="2026-10-01", until="2026-11-01"))
    assert data.decode("utf-8")[1:] == export_csv(rows)
    assert data.decode("utf-8")[1:].splitlines()[0].startswith(f"{FIELDS[0][1]} / {FIELDS[0][2]}")


def test_same_records_give_byte_identical_html(month: Month, tmp_path: Path) -> None:
    """Same records, same bytes: in this process and in two CLI processes, the second with another
    time zone, locale and hash seed, and HOME unwritable with no MPLCONFIGDIR/XDG_CACHE_HOME (as
    under the systemd unit: matplotlib and fontconfig then use STATE_DIR/cache)."""
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")  # HOME below a regular file: not creatable, even by root
    hostile = {"TZ": "Asia/Shanghai", "LANG": "zh_CN.UTF-8", "LC_ALL": "zh_CN.UTF-8", "PYTHONHASHSEED": "4242",
               "HOME": str(blocker / "home"), "MPLCONFIGDIR": None, "XDG_CACHE_HOME": None, "XDG_CONFIG_HOME": None}
    outputs = []
    for name, env in (("a", None), ("b", hostile)):
        done = _cli("--config", str(month.config_path), "report", "--month", MONTH, "--format", "html",
                    "--out", str(tmp_path / name), "--generated-at", GENERATED_AT, env=env)
        assert done.returncode == 0, done.stderr
        assert "Matplotlib" not in done.stderr and "Fontconfig" not in done.stderr, done.stderr
        outputs.append((tmp_path / name / f"QEF-19-05_{MONTH}.html").read_bytes())
    assert outputs[0] == outputs[1]
    in_process = render_html(_report(month)).encode("utf-8")
    if in_process != outputs[0]:
        changed = sorted(k for k, v in _source_digests().items() if SOURCES_AT_IMPORT.get(k) != v)
        assert not changed, f"reports/ changed on disk during this run ({', '.join(changed)}): rerun"
    assert outputs[0] == in_process  # and in-process, too
    assert list((month.root / "state" / "cache" / "matplotlib").glob("fontlist-*.json"))


def test_tampered_chain_is_stated_on_the_cover(month: Month, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    shutil.copy(month.store_path, state / "records.sqlite")
    for suffix in ("-wal", "-shm"):
        if Path(str(month.store_path) + suffix).exists():
            shutil.copy(str(month.store_path) + suffix, str(state / "records.sqlite") + suffix)
    database = sqlite3.connect(state / "records.sqlite")
    with database:
        target = database.execute("SELECT record_no FROM records WHERE result = 'fail' AND kind = 'check' "
                                  "ORDER BY record_no LIMIT 1").fetchone()[0]
        database.execute("DROP TRIGGER records_no_update")
        database.execute("UPDATE records SET result = 'pass', detail = 'fine' WHERE record_no = ?", (target,))
    database.close()
    config = tmp_path / "targets.yaml"
    config.write_text(month.config_path.read_text(encoding="utf-8").replace(f"{month.root}/state", str(state)),
                      encoding="utf-8")
    done = _cli("--config", str(config), "report", "--month", MONTH, "--format", "html,pdf", "--out", str(tmp_path / "out"),
                "--generated-at", GENERATED_AT)
    assert done.returncode == 1, done.stderr  # written, but the chain is broken
    assert f"BROKEN at record {target}" in done.stderr
    html = (tmp_path / "out" / f"QEF-19-05_{MONTH}.html").read_text(encoding="utf-8")
    cover = html.split('<section class="section" id="kpi">')[0]
    assert '<div class="alert" id="chain-broken">' in cover
    assert f"RECORD CHAIN BROKEN at record #{target}" in cover and f"第 #{target} 号记录" in cover
    assert f'<span class="bad">已损坏 / BROKEN at record #{target}</span>' in cover
    words = subprocess.run(["pdftotext", "-l", "1", str(tmp_path / "out" / f"QEF-19-05_{MONTH}.pdf"), "-"],
                           capture_output=True, text=True, check=True).stdout
    assert f"RECORD CHAIN BROKEN at record #{target}" in words


def test_month_without_records_says_so(month: Month, tmp_path: Path) -> None:
    done = _cli("--config", str(month.config_path), "report", "--month", "2026-08", "--format", "html,csv",
                "--out", str(tmp_path), "--generated-at", GENERATED_AT)
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "QEF-19-05_2026-08.html").read_text(encoding="utf-8")
    assert 'id="no-records"' in html and "No records this month" in html
    assert '<td class="num" id="kpi-completeness">无数据 / no data' in html
    assert "100.0 %" not in html
    assert (tmp_path / "QEF-19-05_2026-08.csv").read_bytes().decode("utf-8").count("\r\n") == 1  # the header only


def test_report_during_the_month_counts_only_days_so_far(month: Month) -> None:
    report = _report(month, generated_at="2026-10-10T12:00:00Z")
    assert report.days_counted == 10
    platform = next(s for s in report.datasets if s.name == "platform-db")
    assert [d.status for d in platform.days[:10]].count(MET) == 9  # day 5 breached
    assert all(d.status == "not-yet" for d in platform.days[10:])
    assert report.completeness.counted == 2 * 10


def test_bad_month_and_format_are_usage_errors(month: Month, tmp_path: Path) -> None:
    for args in (("--month", "2026-13"), ("--month", "October"), ("--month", MONTH, "--format", "docx")):
        done = _cli("--config", str(month.config_path), "report", *args, "--out", str(tmp_path))
        assert done.returncode == 2, (args, done.stderr)
    assert not any(tmp_path.iterdir())

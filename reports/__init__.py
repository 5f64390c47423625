"""The monthly QEF-19-05 verification report for the auditor, built from the records store alone.

monthly.build_report() turns a month of records into a MonthlyReport (no target is ever
contacted, so the report can be produced on any machine that holds the store); render_html,
render_pdf and chart turn that model into the bilingual HTML, the A4 PDF and the embedded charts.
write_reports() is what `backup-agent report` calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from agent.records import RecordStore
from reports.monthly import MonthlyReport, ReportError, build_report, parse_month

__all__ = ["FORMATS", "MonthlyReport", "ReportError", "build_report", "parse_month", "write_reports"]

FORMATS = ("html", "pdf", "csv")


def write_reports(store: RecordStore, month: str, out_dir: str | Path, formats: Sequence[str] = FORMATS,
                  generated_at: datetime | None = None, cache_dir: Path | None = None,
                  company: str = "") -> list[Path]:
    """Given a RecordStore and "YYYY-MM", write QEF-19-05_<month>.{html,pdf,csv} into out_dir and
    return the paths written. generated_at (aware datetime) pins the one timestamp of the report.
    cache_dir (the CLI passes STATE_DIR/cache) is where matplotlib and fontconfig may keep their
    caches when HOME is not writable (reports.environment). Raise ReportError for an unknown
    format, a bad month, a missing font or an unwritable directory."""
    from agent.clock import now
    from agent.records import export_csv
    from reports.environment import prepare_caches

    if cache_dir is not None:
        prepare_caches(cache_dir)  # before matplotlib and weasyprint are imported below

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ReportError(f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    report = build_report(store, month, generated_at or now())
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ReportError(f"cannot create the output directory {out_dir}: {error}") from None
    stem = out_dir / f"QEF-19-05_{report.month}"
    written = []
    html = None
    if "html" in formats or "pdf" in formats:
        from reports.render_html import render_html

        html = render_html(report, company)
    if "html" in formats:
        path = stem.with_suffix(".html")
        path.write_text(html, encoding="utf-8")
        written.append(path)
    if "pdf" in formats:
        from reports.render_pdf import render_pdf

        path = stem.with_suffix(".pdf")
        render_pdf(html, path)
        written.append(path)
    if "csv" in formats:
        path = stem.with_suffix(".csv")
        # Same bilingual headers as `records export`, with the BOM so Excel shows the Chinese.
        path.write_bytes(("\ufeff" + export_csv(list(report.rows))).encode("utf-8"))
        written.append(path)
    return written

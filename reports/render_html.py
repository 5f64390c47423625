"""The report as one self-contained bilingual HTML page (Jinja2 templates in reports/templates).

Self-contained: the CSS is inline and each chart is a PNG data URI, so the file can be mailed
or archived alone, and the PDF is rendered from the very same HTML. Byte-identical for the same
records: everything iterated is sorted in the model, and the only clock on the page is the
report's `generated_at`, which the caller pins.
"""

from __future__ import annotations

import base64
from datetime import datetime
from functools import cache
from pathlib import Path

import jinja2

from agent.units import format_duration
from reports import chart
from reports.fonts import find_cjk_font
from reports.monthly import MET, NO_RECORD, NOT_MET, NOT_YET, MonthlyReport

TEMPLATES = Path(__file__).parent / "templates"
NO_DATA = "无数据 / no data"


def percent(ratio: float | None) -> str:
    """Return "88.7 %" or the bilingual "no data" — never a percentage made up from nothing."""
    if ratio is None:
        return NO_DATA
    return f"{ratio * 100:.1f} %"


def when(moment: datetime | None) -> str:
    """Return a record time as "2026-10-05 02:00 UTC" (minutes are enough for the auditor)."""
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def duration(seconds: float | None) -> str:
    return "—" if seconds is None else format_duration(seconds)


def record_numbers(numbers: tuple[int, ...]) -> str:
    """Return "#12, #40, #68" — every record number, so each failure can be looked up."""
    return ", ".join(f"#{n}" for n in numbers)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=jinja2.select_autoescape(["j2", "html"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(percent=percent, when=when, duration=duration, records=record_numbers)
    return env


def chart_uris(report: MonthlyReport) -> dict[str, str | None]:
    """Given the report, return dataset name → PNG data URI of its age chart (None when nothing to draw)."""
    start, end = chart.month_bounds(report)
    uris: dict[str, str | None] = {}
    for section in report.datasets:
        png = chart.age_chart_png(section, start, end)
        uris[section.name] = None if png is None else "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return uris


def render_html(report: MonthlyReport, company: str = "") -> str:
    """Return the report as an HTML document (UTF-8 text); company is `agent.company` from the
    configuration (the records do not carry it), shown on the cover and in the footer."""
    font = find_cjk_font()
    template = environment().get_template("report.html.j2")
    return template.render(
        report=report,
        company=company,
        charts=chart_uris(report),
        font_family=font.family,
        MET=MET, NOT_MET=NOT_MET, NO_RECORD=NO_RECORD, NOT_YET=NOT_YET,
        NO_DATA=NO_DATA,
    )

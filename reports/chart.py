"""Age vs RPO over the month, one PNG per dataset, drawn with matplotlib (Agg, no display).

The PNG is deterministic — same records, same bytes — because the HTML embeds it as a data URI
and the HTML must be byte-identical for the same records: fixed size, dpi and style (no user
matplotlibrc), no Software/date metadata in the file, and only the records' own times drawn. The
CJK family must resolve to the very font file reports.fonts chose (checked once per process), so a
font list built elsewhere cannot swap the glyphs; the CLI keeps that list under STATE_DIR/cache
(reports.environment), not in the invoking user's HOME.
"""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime, time
from pathlib import Path
from types import ModuleType

from reports.fonts import CjkFont, find_cjk_font
from reports.monthly import DatasetSection, MonthlyReport, ReportError

# Fixed drawing settings: the chart must not depend on the machine's matplotlibrc.
WIDTH_INCHES, HEIGHT_INCHES, DPI = 7.2, 2.9, 110
COLOURS = ("#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
RPO_COLOUR = "#d62728"

_registered: set[str] = set()


def _pyplot():
    """Import pyplot on the Agg backend and register the CJK font file with matplotlib once."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    font = find_cjk_font()
    if str(font.path) not in _registered:
        font_manager.fontManager.addfont(str(font.path))
        _check_resolution(font_manager, font)
        _registered.add(str(font.path))
    return plt, font.family


def _check_resolution(font_manager: ModuleType, font: CjkFont) -> None:
    """Make sure matplotlib draws the family with exactly this font file, whatever its font list
    holds (built from a system scan into a per-user cache): a lookup that lands elsewhere would give
    another machine's — or another cache's — glyphs, or tofu boxes. Raise ReportError if it does."""
    from matplotlib.font_manager import FontProperties

    try:
        resolved = font_manager.findfont(FontProperties(family=[font.family]), fallback_to_default=False,
                                         rebuild_if_missing=False)
    except ValueError:
        resolved = None
    if resolved is None or Path(resolved).resolve() != font.path.resolve():
        raise ReportError(f"matplotlib resolves the chart font {font.family!r} to {resolved or 'nothing'}, "
                          f"not {font.path} (is MPL_IGNORE_SYSTEM_FONTS set, or another font installed under that "
                          "name?); refusing to draw the charts with other glyphs")


def age_chart_png(section: DatasetSection, start: datetime, end: datetime) -> bytes | None:
    """Return a PNG of every copy's backup age (hours) over [start, end) with the RPO as a line,
    or None when no copy of the dataset has a measured age this month."""
    series = [(copy, copy.ages) for copy in section.copies if copy.ages]
    if not series:
        return None
    plt, family = _pyplot()
    import matplotlib
    import matplotlib.dates as mdates

    style = {**matplotlib.rcParamsDefault, "font.family": [family, "DejaVu Sans"], "font.size": 8,
             "axes.unicode_minus": False, "svg.hashsalt": "backup-agent", "figure.dpi": DPI, "savefig.dpi": DPI}
    with matplotlib.rc_context(style):
        figure, axes = plt.subplots(figsize=(WIDTH_INCHES, HEIGHT_INCHES))
        try:
            rpo = section.rpo_seconds
            for index, (copy, ages) in enumerate(series):
                # A run without a measured age leaves a gap in the line rather than bridging it.
                hours = [math.nan if p.age_seconds is None else p.age_seconds / 3600 for p in ages]
                axes.plot([p.at for p in ages], hours, marker="o", markersize=2.5,
                          linewidth=1.2, color=COLOURS[index % len(COLOURS)], label=copy.label)
                over = [(p.at, p.age_seconds / 3600) for p in ages
                        if rpo and p.age_seconds is not None and p.age_seconds > rpo]
                if over:
                    axes.plot([at for at, _ in over], [h for _, h in over], linestyle="none", marker="x",
                              markersize=6, color=RPO_COLOUR)
            if rpo:
                axes.axhline(rpo / 3600, color=RPO_COLOUR, linestyle="--", linewidth=1.2, label=f"RPO {rpo / 3600:g} h")
            axes.set_xlim(start, end)
            axes.set_ylim(bottom=0)
            axes.set_ylabel("备份距今 / age (h)")
            axes.set_title(f"{section.name}: 备份距今与 RPO / backup age vs RPO (UTC)", fontsize=9)
            axes.grid(True, linewidth=0.4, alpha=0.5)
            axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=7, frameon=False, ncols=4)
            axes.xaxis.set_major_locator(mdates.DayLocator(bymonthday=(1, 5, 10, 15, 20, 25)))
            axes.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
            figure.tight_layout()
            buffer = io.BytesIO()
            # No Software / creation-time chunks: the bytes depend on the data only.
            figure.savefig(buffer, format="png", metadata={"Software": None})
            return buffer.getvalue()
        finally:
            plt.close(figure)


def month_bounds(report: MonthlyReport) -> tuple[datetime, datetime]:
    """The chart's x range: the month's first and last instant (UTC)."""
    return (datetime.combine(report.start, time(0), UTC), datetime.combine(report.end, time(0), UTC))

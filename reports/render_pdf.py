"""The report as an A4 PDF, rendered by WeasyPrint from the same HTML as the HTML report.

WeasyPrint lays out with Pango and embeds a subset of each font it uses, so the Chinese labels
are drawn with the Debian CJK font (reports.fonts) embedded in the file — no tofu on a machine
without the font. Page size, page numbers and the form number in the footer come from the
stylesheet's @page rules. Needs Debian's libpango-1.0-0, libpangoft2-1.0-0 and
libharfbuzz-subset0 (./bootstrap installs them; without HarfBuzz subsetting WeasyPrint falls back
to fontTools, which takes ~10 s per CJK face).
"""

from __future__ import annotations

import logging
from pathlib import Path

from reports.fonts import find_cjk_font
from reports.monthly import ReportError

log = logging.getLogger(__name__)


def render_pdf(html: str, destination: Path) -> None:
    """Given the report's HTML, write the PDF to destination. Raise ReportError when it cannot be made."""
    find_cjk_font()  # fail with the package name rather than render tofu boxes
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as error:  # OSError: a Pango library is missing
        raise ReportError(f"PDF rendering unavailable ({error}); install weasyprint and Debian's libpango-1.0-0 "
                          "libpangoft2-1.0-0 libharfbuzz-subset0, or run ./bootstrap") from None
    # Quiet WeasyPrint's CSS warnings about properties it ignores; errors still propagate.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    HTML(string=html, base_url=str(destination.parent)).write_pdf(str(destination))

"""The CJK font the report renders with: one from Debian's packages, found by its installed path.

The PDF embeds it and the charts draw their Chinese labels with it. A missing font is an error
naming the package to install, never a document full of tofu boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reports.monthly import ReportError


@dataclass(frozen=True)
class CjkFont:
    family: str  # the fontconfig family name CSS and matplotlib ask for
    path: Path
    package: str  # the Debian package that installs it


# In order of preference; the first installed one is used.
CANDIDATES: tuple[CjkFont, ...] = (
    CjkFont("Noto Sans CJK SC", Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), "fonts-noto-cjk"),
    CjkFont("WenQuanYi Zen Hei", Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"), "fonts-wqy-zenhei"),
)


def find_cjk_font() -> CjkFont:
    """Return the first installed CJK font. Raise ReportError naming the package to install."""
    for font in CANDIDATES:
        if font.path.is_file():
            return font
    raise ReportError("no CJK font installed for the report's Chinese labels; install the Debian package "
                      f"{CANDIDATES[0].package} (apt-get install {CANDIDATES[0].package}) or run ./bootstrap")

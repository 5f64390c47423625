"""Where matplotlib and fontconfig keep their caches while the report is made.

Both want a writable cache under $HOME by default: matplotlib its font list and config
(~/.cache/matplotlib, ~/.config/matplotlib), fontconfig — which WeasyPrint reaches through Pango —
its font cache (~/.cache/fontconfig). The report unit runs with no writable HOME (ProtectHome=,
ProtectSystem=strict, a system user), where matplotlib would fall back to a fresh temporary
directory and rebuild its font list on every run, and fontconfig complains that no cache directory
is writable. prepare_caches() points them at a directory the caller owns (the state directory's
cache/), or at a private temporary directory removed at exit, before either library is imported.

It also keeps the charts independent of the invoking user's matplotlib files: the font list the
charts resolve their CJK font from is built by the report itself, not inherited from whoever ran
matplotlib last under that HOME.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

PREFIX = "backup-agent-report-"


def writable_directory(path: Path) -> bool:
    """Return True when path is (or can be made) a directory this process can create files in.

    Tried for real rather than with os.access: root passes os.access on a read-only file system,
    and a directory that does not exist yet may still be creatable."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        return False
    return True


def _private_directory() -> Path:
    """A private temporary directory (mode 0700) removed when the process exits."""
    path = Path(tempfile.mkdtemp(prefix=PREFIX))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def prepare_caches(cache_dir: Path | None, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Given the directory the report may keep caches in (STATE_DIR/cache; None for none), set
    MPLCONFIGDIR and, when the default fontconfig cache is not writable, XDG_CACHE_HOME in environ
    (os.environ by default). Return the variables set.

    MPLCONFIGDIR: kept when already set to a writable directory; otherwise cache_dir/matplotlib,
    or a private temporary directory when cache_dir is None or not writable. XDG_CACHE_HOME: kept
    when set and writable, or left unset while ~/.cache is writable; otherwise cache_dir, or the
    private temporary directory. Must run before matplotlib or weasyprint is imported; a warning
    goes to stderr when one already is (its caches are fixed by then)."""
    environ = os.environ if environ is None else environ
    changed: dict[str, str] = {}
    private: Path | None = None

    def fallback(name: str) -> Path:
        nonlocal private
        if cache_dir is not None and writable_directory(cache_dir / name):
            return cache_dir / name
        private = private or _private_directory()
        return private / name

    current = environ.get("MPLCONFIGDIR")
    if not (current and writable_directory(Path(current))):
        path = fallback("matplotlib")
        path.mkdir(parents=True, exist_ok=True)
        changed["MPLCONFIGDIR"] = str(path)

    current = environ.get("XDG_CACHE_HOME")
    if current:
        usable = writable_directory(Path(current))
    else:
        home = environ.get("HOME")
        # Never create a missing HOME (as root that would succeed): only its .cache, as fontconfig would.
        usable = bool(home) and Path(home).is_dir() and writable_directory(Path(home) / ".cache")
    if not usable:
        path = fallback("xdg-cache")
        path.mkdir(parents=True, exist_ok=True)
        changed["XDG_CACHE_HOME"] = str(path)

    environ.update(changed)
    if changed and environ is os.environ:
        loaded = [name for name in ("matplotlib", "weasyprint") if name in sys.modules]
        if loaded:
            print(f"backup-agent: warning: {', '.join(loaded)} already imported; the cache directories "
                  f"{', '.join(changed)} apply to new processes only", file=sys.stderr)
    return changed

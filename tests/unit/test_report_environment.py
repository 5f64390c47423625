"""reports.environment.prepare_caches: where matplotlib and fontconfig cache while the report is
made, with HOME unwritable as under the systemd unit. Unwritable paths are made by putting them
below a regular file, which fails for root too (root ignores permission bits). The variables are
set on a dict passed in, never on this process's environment."""

from __future__ import annotations

import stat
import tempfile
from pathlib import Path

from reports.environment import PREFIX, prepare_caches, writable_directory


def _unwritable(tmp_path: Path, name: str) -> Path:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    return blocker / name


def test_unwritable_home_uses_the_state_directory(tmp_path: Path) -> None:
    cache = tmp_path / "state" / "cache"
    environ = {"HOME": str(_unwritable(tmp_path, "home"))}
    changed = prepare_caches(cache, environ)
    assert changed == {"MPLCONFIGDIR": str(cache / "matplotlib"), "XDG_CACHE_HOME": str(cache / "xdg-cache")}
    assert environ["MPLCONFIGDIR"] == str(cache / "matplotlib") and (cache / "matplotlib").is_dir()
    assert (cache / "xdg-cache").is_dir()


def test_writable_settings_are_kept_and_matplotlib_still_gets_its_own(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    own = tmp_path / "mpl"
    environ = {"HOME": str(home), "MPLCONFIGDIR": str(own)}
    assert prepare_caches(tmp_path / "cache", environ) == {}
    assert own.is_dir() and (home / ".cache").is_dir()
    # Unset, MPLCONFIGDIR goes under the state directory even with HOME writable: the charts'
    # font list is the report's own, not whatever the user's matplotlib cache holds.
    environ = {"HOME": str(home)}
    assert prepare_caches(tmp_path / "cache", environ) == {"MPLCONFIGDIR": str(tmp_path / "cache" / "matplotlib")}


def test_missing_home_is_not_created(tmp_path: Path) -> None:
    home = tmp_path / "nonexistent"
    changed = prepare_caches(tmp_path / "cache", {"HOME": str(home)})
    assert not home.exists() and changed["XDG_CACHE_HOME"] == str(tmp_path / "cache" / "xdg-cache")


def test_read_only_state_falls_back_to_a_private_temporary_directory(tmp_path: Path) -> None:
    environ = {"HOME": str(_unwritable(tmp_path, "home")), "MPLCONFIGDIR": str(_unwritable(tmp_path, "mpl"))}
    changed = prepare_caches(_unwritable(tmp_path, "cache"), environ)
    private = Path(changed["MPLCONFIGDIR"]).parent
    assert private.name.startswith(PREFIX) and private.parent == Path(tempfile.gettempdir())
    assert Path(changed["XDG_CACHE_HOME"]).parent == private
    assert stat.S_IMODE(private.stat().st_mode) == 0o700


def test_writable_directory_tries_for_real(tmp_path: Path) -> None:
    assert writable_directory(tmp_path / "new" / "deeper")
    assert not writable_directory(_unwritable(tmp_path, "x"))

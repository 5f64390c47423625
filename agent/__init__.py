"""backup-agent: a 3-2-1 backup verification agent (SOP-19, form QEF-19-05)."""

__version__ = "0.1.0"

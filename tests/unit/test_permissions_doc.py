"""The README's permission table is the one the services enforce."""

from __future__ import annotations

from pathlib import Path

from access.permissions import markdown_table

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- permissions:begin -->\n", "<!-- permissions:end -->"


def test_the_readme_shows_the_permission_table_the_services_enforce():
    text = README.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, f"README.md lacks the markers {BEGIN.strip()} and {END}"
    shown = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
    assert shown == markdown_table(), (
        "README.md's permission table differs from access/permissions.py: replace the lines between "
        f"{BEGIN.strip()} and {END} with the output of `.venv/bin/python -m access.permissions`")

"""``python -m tabhooks`` is the ``tabhooks`` command."""

from __future__ import annotations

from tabhooks.cli.main import app

app(prog_name="tabhooks")

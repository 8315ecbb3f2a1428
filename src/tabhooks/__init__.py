"""tabhooks: Tableau webhooks, self-hosted.

The public contract is HTTP (Tableau's REST API plus ``/tabhooks/v1``) and the ``tabhooks``
command; the Python modules are internals and may change between releases.
"""

from __future__ import annotations

__version__ = "0.1.0"

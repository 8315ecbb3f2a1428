"""The inspector: bins that capture any HTTP request, answer as told and show it live.

``bins`` holds the use cases (create, settings, clear, delete), ``capture`` the public
endpoint ``/inbox/{id}``, ``chaos`` the pure choice of each answer, ``inspection`` what a
captured request means (Tableau event, signature verdict, duplicates), ``hub`` and ``live``
the wake-ups behind the live view, ``replay`` the re-send of a captured request, and
``runtime`` the background pieces a server process runs.
"""

from __future__ import annotations

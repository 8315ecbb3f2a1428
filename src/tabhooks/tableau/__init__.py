"""Talking to a Tableau site as a client: the REST client and the saved login profiles.

Both the CLI (``tabhooks login``, ``tabhooks webhooks …``) and the relay (a route enriched
through a profile) need them, so they sit below both in the import layers and know nothing
of either: no Typer, no Rich, no printing. Failures are exceptions —
:class:`~tabhooks.tableau.client.TableauApiError` for what a server answered,
:class:`~tabhooks.tableau.profiles.ProfileError` for a profile that cannot be used — which
the CLI prints and the relay logs.
"""

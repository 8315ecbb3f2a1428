"""``tabhooks serve`` says which Host names it answers when it listens on every address."""

from __future__ import annotations

import pytest

from tabhooks.cli import serve
from tabhooks.config import Settings


def _notice(settings: Settings) -> str:
    with serve.console.capture() as captured:
        serve._announce_hosts(settings)
    return " ".join(captured.get().split())


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_announce_hosts_on_every_address_says_what_to_set(host: str) -> None:
    text = _notice(Settings(host=host))
    assert "127.0.0.1, localhost, [::1]" in text and "400" in text
    assert "TABHOOKS_PUBLIC_URL" in text and "TABHOOKS_ALLOWED_HOSTS" in text


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"host": "192.0.2.10"},
        {"host": "0.0.0.0", "public_url": "https://hooks.example.com"},
        {"host": "0.0.0.0", "allowed_hosts": "hooks.internal"},
    ],
)
def test_announce_hosts_is_quiet_when_the_hosts_are_known(values: dict[str, str]) -> None:
    assert _notice(Settings(**values)) == ""  # type: ignore[arg-type]

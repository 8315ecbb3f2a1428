"""What a refresh may reach: which files a file connection may read, which hosts a database
connection may connect to.

A connection's file name and server address are written by whoever published the content — any
Creator — and a refresh reads or connects from inside the server. Unguarded, a text connection
naming ``/etc/passwd`` "refreshes" successfully: an existence-and-size oracle for every file
the server can read. So:

* **Files** are read only below the configured roots (``TABHOOKS_FILE_CONNECTION_ROOTS``;
  default: the server's working folder and the system temporary folder). The name is resolved
  first — symlinks followed, ``..`` collapsed — so a link inside a root that points outside it
  is refused, and the refusal reads the same whether or not the file exists.
* **Database hosts** may be anything by default, as on Tableau (a data source's database lives
  wherever its owner keeps it). ``TABHOOKS_CONNECTION_ALLOWED_CIDRS`` restricts them: the host
  is resolved here, every address must lie in an allowed network, and the driver is handed the
  checked addresses so it cannot resolve the name again to somewhere else. A host is always a
  host name or an IP address: libpq reads a path as a Unix-socket folder, which would connect
  as the server's own operating-system user.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from tabhooks.delivery.guard import BlockedDestination, IPNetwork, host_address

#: Seconds a database connection attempt may take (libpq counts whole seconds, at least 2).
CONNECT_TIMEOUT_S = 10


class Unreachable(Exception):
    """The connection may not be reached; ``str()`` is safe to put in a job's notes."""


class ReachSettings(Protocol):
    """The part of :class:`tabhooks.config.Settings` this module reads."""

    @property
    def file_connection_roots(self) -> list[str]: ...

    @property
    def connection_allowed_cidrs(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    """Where to connect: the host as written and, when checked here, its addresses."""

    host: str
    port: int
    #: The addresses to connect to; empty when any host is allowed (the driver resolves).
    addresses: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReachPolicy:
    """Which files and hosts refreshes may reach.

    Args:
        file_roots: Resolved folders whose files may be read.
        allowed_cidrs: Networks database hosts must resolve into; empty means any host.
        connect_timeout_s: See :data:`CONNECT_TIMEOUT_S`.
    """

    file_roots: tuple[Path, ...]
    allowed_cidrs: tuple[IPNetwork, ...] = ()
    connect_timeout_s: int = CONNECT_TIMEOUT_S

    @classmethod
    def from_settings(cls, settings: ReachSettings) -> ReachPolicy:
        """The policy of this process; default roots are resolved once, at start-up."""
        roots = settings.file_connection_roots or [os.getcwd(), tempfile.gettempdir()]
        return cls(
            file_roots=resolve_roots(roots),
            allowed_cidrs=tuple(
                ipaddress.ip_network(cidr, strict=False)
                for cidr in settings.connection_allowed_cidrs
            ),
        )

    def connection_file(self, filename: str) -> Path:
        """The real path of a connection's file, if it lies below a root.

        A relative name is relative to the server's working folder, as before. The check is
        made on the resolved path and says nothing of the file itself, so a refusal reveals
        neither existence nor type; whether the file exists is for the caller to find out,
        once it is known to be inside.

        Raises:
            Unreachable: No file name, or the file resolves outside every root.
        """
        if not filename:
            raise Unreachable("the connection names no file")
        try:
            real = Path(filename).resolve()
        except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL byte
            raise Unreachable(f"{filename}: not a usable file name") from exc
        if not any(real.is_relative_to(root) for root in self.file_roots):
            raise Unreachable(
                f"{filename} is outside the folders this server reads connection files from "
                "(TABHOOKS_FILE_CONNECTION_ROOTS)"
            )
        return real

    def database_target(self, host: str, port: int) -> DatabaseTarget:
        """Check a database host, resolving it when networks are restricted (blocking: DNS).

        Raises:
            Unreachable: Not a host name or IP address, unknown, or outside the allowed
                networks.
        """
        try:
            literal = host_address(host)
        except BlockedDestination as exc:
            raise Unreachable(f"{host!r} is not a host name or IP address") from exc
        if not self.allowed_cidrs:
            return DatabaseTarget(host, port)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError) as exc:
                raise Unreachable("host not found") from exc
            addresses = list(dict.fromkeys(str(answer[4][0]) for answer in answers))
        if not addresses or not all(_allowed(a, self.allowed_cidrs) for a in addresses):
            raise Unreachable(
                f"{host} is outside the networks refreshes may reach "
                "(TABHOOKS_CONNECTION_ALLOWED_CIDRS)"
            )
        return DatabaseTarget(host, port, tuple(addresses))


def resolve_roots(roots: Iterable[str]) -> tuple[Path, ...]:
    """Roots as real paths, so a root given through a symlink (``/tmp`` on macOS) matches."""
    return tuple(Path(root).expanduser().resolve() for root in roots)


def _allowed(address: str, networks: Sequence[IPNetwork]) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)

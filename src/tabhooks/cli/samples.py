"""Tiny, real Tableau files for ``tabhooks fire``: a workbook, a data source and a flow.

They are what Tableau Desktop would save, cut down to what a server reads: connections and
sheets. The connection decides how a refresh ends wherever the server runs — a class no
server can reach from a laptop's files (``sqlserver``) is refreshed as a simulated extract on
tabhooks, and a SQLite file that does not exist fails on any machine, the way a broken
connection fails a refresh on Tableau.
"""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import quoteattr

#: A file no server has: the "broken connection" of a failing refresh. Relative, so it lies in
#: the server's working folder, which a refresh may read (TABHOOKS_FILE_CONNECTION_ROOTS), and
#: the refresh fails as a missing file does rather than as a file it may not read.
MISSING_SQLITE_FILE = "tabhooks-fire-missing/missing.sqlite"


def connection(*, broken: bool = False) -> str:
    """A federated connection: SQL Server (refreshes fine) or a missing SQLite file."""
    if broken:
        inner = f"<connection class='sqlite' filename={quoteattr(MISSING_SQLITE_FILE)} />"
    else:
        inner = (
            "<connection class='sqlserver' server='sql.example.com' dbname='Superstore' "
            "username='reader' />"
        )
    return (
        "<connection class='federated'><named-connections><named-connection name='c1'>"
        f"{inner}</named-connection></named-connections></connection>"
    )


def datasource(caption: str, *, broken: bool = False) -> bytes:
    """A ``.tds``."""
    return (
        "<?xml version='1.0' encoding='utf-8' ?>\n"
        f"<datasource formatted-name={quoteattr(caption)} inline='true' version='18.1' "
        "xmlns:user='http://www.tableausoftware.com/xml/user'>"
        f"{connection(broken=broken)}</datasource>"
    ).encode()


def workbook(sheets: tuple[str, ...] = ("Sales", "Profit"), *, broken: bool = False) -> bytes:
    """A ``.twb`` with one data source and a worksheet per name."""
    worksheets = "".join(f"<worksheet name={quoteattr(s)}><table /></worksheet>" for s in sheets)
    return (
        "<?xml version='1.0' encoding='utf-8' ?>\n"
        "<workbook source-build='2024.2.0' version='18.1' "
        "xmlns:user='http://www.tableausoftware.com/xml/user'>"
        f"<datasources><datasource name='ds1'>{connection(broken=broken)}</datasource>"
        f"</datasources><worksheets>{worksheets}</worksheets></workbook>"
    ).encode()


def package(inner_name: str, inner: bytes) -> bytes:
    """A zip package (``.twbx``, ``.tdsx``, ``.tflx``) holding one file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(inner_name, inner)
    return buffer.getvalue()


def flow() -> bytes:
    """A ``.tfl``: Tableau Prep's flow package, empty."""
    return package("flow", b"{}")

"""Small, real Tableau files for tests: .twb/.tds XML and their .twbx/.tdsx packages."""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import quoteattr


def connection_xml(
    kind: str,
    *,
    server: str = "",
    port: str = "",
    dbname: str = "",
    username: str = "",
    filename: str = "",
) -> str:
    attrs = " ".join(
        f"{name}={quoteattr(value)}"
        for name, value in (
            ("class", kind),
            ("server", server),
            ("port", port),
            ("dbname", dbname),
            ("username", username),
            ("filename", filename),
        )
        if value
    )
    return (
        "<connection class='federated'><named-connections><named-connection name='c1'>"
        f"<connection {attrs} /></named-connection></named-connections></connection>"
    )


def datasource_xml(connection: str, caption: str = "Sample") -> bytes:
    return (
        "<?xml version='1.0' encoding='utf-8' ?>\n"
        f"<datasource formatted-name={quoteattr(caption)} inline='true' version='18.1' "
        "xmlns:user='http://www.tableausoftware.com/xml/user'>"
        f"{connection}</datasource>"
    ).encode()


def workbook_xml(
    connection: str, sheets: tuple[str, ...] = ("Sales", "Profit"), dashboards: tuple[str, ...] = ()
) -> bytes:
    worksheets = "".join(f"<worksheet name={quoteattr(s)}><table /></worksheet>" for s in sheets)
    boards = "".join(f"<dashboard name={quoteattr(d)}><zones /></dashboard>" for d in dashboards)
    return (
        "<?xml version='1.0' encoding='utf-8' ?>\n"
        "<workbook source-build='2024.2.0' version='18.1' "
        "xmlns:user='http://www.tableausoftware.com/xml/user'>"
        f"<datasources><datasource name='ds1'>{connection}</datasource></datasources>"
        f"<worksheets>{worksheets}</worksheets>"
        + (f"<dashboards>{boards}</dashboards>" if boards else "")
        + "</workbook>"
    ).encode()


def package(inner_name: str, inner: bytes, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(inner_name, inner)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()

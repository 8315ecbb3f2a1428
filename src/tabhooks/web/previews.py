"""What a delivery looked like: the request headers it carried, and Slack or Teams messages
as those apps would show them.

Pure functions over what the store keeps. Request headers are not stored (they are rebuilt at
every attempt), so :func:`request_headers` lists them as the dispatcher sets them
(:mod:`tabhooks.delivery.dispatcher`, :class:`tabhooks.delivery.sender.Sender`): the exact
``webhook-id``, the attempt's ``webhook-timestamp`` (the second it started) and, when it was
signed, that a ``webhook-signature`` was sent — its value depends on the secrets live at that
moment and is not kept.

The message previews turn the JSON body into a small model (text runs, fields, buttons) that
the template renders with autoescaping: nothing in a body is ever markup. Links are kept only
when they are http(s), so a body cannot smuggle a ``javascript:`` URL into the page.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tabhooks.delivery import signing
from tabhooks.delivery.sender import USER_AGENT


@dataclass(frozen=True, slots=True)
class Header:
    name: str
    value: str
    #: Why the value is what it is, when it is not simply the value sent.
    note: str = ""


def request_headers(
    delivery_id: str,
    *,
    attempt_started: datetime | None,
    signed: bool,
    extra: dict[str, str] | None = None,
) -> list[Header]:
    """The headers an attempt of this delivery sends (see the module docstring)."""
    found = [
        Header("Content-Type", "application/json"),
        Header("User-Agent", USER_AGENT),
        Header("Accept-Encoding", "identity"),
        Header(signing.ID_HEADER, delivery_id, "the same on every attempt and redelivery"),
    ]
    if attempt_started is not None:
        found.append(
            Header(
                signing.TIMESTAMP_HEADER,
                str(int(attempt_started.timestamp())),
                "the latest attempt's; each attempt sends its own",
            )
        )
    else:
        found.append(Header(signing.TIMESTAMP_HEADER, "(set when sent)"))
    if signed:
        found.append(
            Header(
                signing.SIGNATURE_HEADER,
                "v1,…",
                "one signature per secret live at that attempt; not stored",
            )
        )
    names = {h.name.lower(): i for i, h in enumerate(found)}
    for name, value in (extra or {}).items():
        header = Header(name, value, "set on the relay target")
        if name.lower() in names:
            found[names[name.lower()]] = header
        else:
            found.append(header)
    return found


# --------------------------------------------------------------------------- message previews


@dataclass(frozen=True, slots=True)
class Run:
    """A piece of text: plain, bold, or a link (``href`` is always http or https)."""

    text: str
    bold: bool = False
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Block:
    """One block of a message, in the order the app stacks them: lines of text, or fields
    (a title and a value side by side)."""

    lines: list[list[Run]] = field(default_factory=list)
    fields: list[tuple[str, list[Run]]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Message:
    """A chat message as its app shows it: blocks, then buttons."""

    app: str
    blocks: list[Block] = field(default_factory=list)
    buttons: list[tuple[str, str]] = field(default_factory=list)


def _safe_href(url: str) -> str | None:
    url = url.strip()
    return url if re.match(r"https?://", url, re.IGNORECASE) else None


#: ``<scheme:target|label>`` (a link only when the scheme is http or https) or ``*bold*``;
#: any other ``<...>`` is text, as Slack shows it.
_MRKDWN = re.compile(
    r"<(?P<url>[A-Za-z][A-Za-z0-9+.-]*:[^|>\s]+)(?:\|(?P<label>[^>]*))?>|\*(?P<bold>[^*\n]+)\*"
)


def mrkdwn(text: str) -> list[list[Run]]:
    """Slack's ``mrkdwn`` (``*bold*``, ``<url|label>``) as lines of runs."""
    lines: list[list[Run]] = []
    for line in text.split("\n"):
        runs: list[Run] = []
        at = 0
        for found in _MRKDWN.finditer(line):
            if found.start() > at:
                runs.append(Run(line[at : found.start()]))
            if found["bold"] is not None:
                runs.append(Run(found["bold"], bold=True))
            else:
                url = found["url"]
                href = _safe_href(url)
                runs.append(Run(found["label"] or url, href=href))
            at = found.end()
        if at < len(line):
            runs.append(Run(line[at:]))
        lines.append(runs)
    return lines


def _json_object(body: str | None) -> dict[str, Any] | None:
    if not body:
        return None
    try:
        found = json.loads(body)
    except (ValueError, RecursionError):
        return None
    return found if isinstance(found, dict) else None


def slack(body: str | None) -> Message | None:
    """A Slack incoming-webhook body (``text`` and ``blocks``), or ``None`` if it is not one."""
    data = _json_object(body)
    if data is None:
        return None
    message = Message("Slack")
    blocks = data.get("blocks")
    if not isinstance(blocks, list) or not blocks:
        text = data.get("text")
        if not isinstance(text, str):
            return None
        message.blocks.append(Block(lines=mrkdwn(text)))
        return message
    for block in blocks:
        if not isinstance(block, dict):
            continue
        shown = Block()
        text = block.get("text")
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            shown.lines.extend(mrkdwn(text["text"]))
        for item in block.get("fields") or ():
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                title, _, value = item["text"].partition("\n")
                shown.fields.append((title.strip("*"), [r for ln in mrkdwn(value) for r in ln]))
        message.blocks.append(shown)
    return message


def teams(body: str | None) -> Message | None:
    """A Teams message carrying an Adaptive Card, or ``None`` if it is not one."""
    data = _json_object(body)
    attachments = data.get("attachments") if data else None
    if not isinstance(attachments, list) or not attachments:
        return None
    card = attachments[0].get("content") if isinstance(attachments[0], dict) else None
    if not isinstance(card, dict):
        return None
    message = Message("Teams")
    for element in card.get("body") or ():
        if not isinstance(element, dict):
            continue
        if element.get("type") == "TextBlock" and isinstance(element.get("text"), str):
            bold = element.get("weight") == "Bolder"
            message.blocks.append(Block(lines=[[Run(element["text"], bold=bold)]]))
        elif element.get("type") == "FactSet":
            facts = [f for f in element.get("facts") or () if isinstance(f, dict)]
            message.blocks.append(
                Block(
                    fields=[
                        (str(f.get("title", "")), [Run(str(f.get("value", "")))]) for f in facts
                    ]
                )
            )
    for action in card.get("actions") or ():
        if isinstance(action, dict) and action.get("type") == "Action.OpenUrl":
            href = _safe_href(str(action.get("url", "")))
            if href:
                message.buttons.append((str(action.get("title") or "Open"), href))
    return message


def message(target_type: str | None, body: str | None) -> Message | None:
    """The preview of a relay delivery to ``target_type``, when it is a chat app's message."""
    if target_type == "slack":
        return slack(body)
    if target_type == "teams":
        return teams(body)
    return None

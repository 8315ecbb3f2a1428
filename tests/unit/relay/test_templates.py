"""Relay templates: compile errors with their line, sandbox escapes refused at save and at
render time, and every render failure turned into :class:`RenderFailed` with a reason."""

from __future__ import annotations

from typing import Any

import pytest

from tabhooks.relay import messages, templates
from tabhooks.relay.messages import Inbound
from tabhooks.relay.templates import InvalidTemplate, RenderFailed

EVENT = Inbound("EXTRACTS", "DatasourceRefreshFailed", "Sales", "site-1", "luid-1", "2024-05-01")


def context(enrichment: dict[str, Any] | None = None) -> dict[str, Any]:
    return messages.context(EVENT, "https://x/#/datasources/luid-1", enrichment or {})


# ------------------------------------------------------------------------------------ check


def test_check_accepts_a_json_template_using_the_context() -> None:
    templates.check('{"text": {{ (event.title ~ ": " ~ event.resource_name) | tojson }}}')


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("line one\n{% if %}", "line 2: "),
        ("a\nb\n{{ event.name ", "line 3: "),
        ("{% for x in payload %}{{ x }}", "line 1: "),
        ("ok\n\n\n{{ event.name | no_such_filter }}", "line 4: "),
        ("{% if event is no_such_test %}{% endif %}", "line 1: no test named 'no_such_test'"),
        # Jinja2 leaves filters inside {% if %} to run time; the save-time check does not.
        ("{% if event %}\n{{ event.name | nope }}{% endif %}", "line 2: no filter named 'nope'"),
    ],
)
def test_check_refuses_what_does_not_compile_with_its_line(source: str, expected: str) -> None:
    with pytest.raises(InvalidTemplate) as caught:
        templates.check(source)
    detail = str(caught.value.detail)
    assert detail.startswith("The template does not compile: ") and expected in detail
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("source", "name", "line"),
    [
        ("{{ ''.__class__.__mro__ }}", "__mro__", 1),
        ("\n{{ event['__class__'] }}", "__class__", 2),
        ("\n\n{{ ''|attr('__class__') }}", "__class__", 3),
        ("{{ cycler.__init__.__globals__ }}", "__globals__", 1),
        ("{{ lipsum._private }}", "_private", 1),
        ("{% set x = namespace() %}{{ x.__dict__ }}", "__dict__", 1),
    ],
)
def test_check_refuses_underscore_names_with_their_line(source: str, name: str, line: int) -> None:
    with pytest.raises(InvalidTemplate) as caught:
        templates.check(source)
    detail = str(caught.value.detail)
    assert f"line {line}: access to '{name}' is not allowed" in detail


def test_check_refuses_an_overlong_template() -> None:
    with pytest.raises(InvalidTemplate, match="at most"):
        templates.check("x" * (templates.TEMPLATE_MAX_CHARS + 1))
    templates.check("x" * templates.TEMPLATE_MAX_CHARS)


# ------------------------------------------------------------------------------------ render


def test_render_fills_event_payload_and_enrichment() -> None:
    source = (
        "{{ event.title }} | {{ payload.resource }} | {{ enrichment.project }} | "
        "{{ event.link }} | {{ {'n': event.resource_name} | tojson }}"
    )
    rendered = templates.render(source, context({"project": "Finance"}))
    assert rendered == (
        'Datasource refresh failed | EXTRACTS | Finance | https://x/#/datasources/luid-1 | {"n": '
        '"Sales"}'
    )


def test_missing_enrichment_renders_empty_instead_of_failing() -> None:
    assert templates.render("[{{ enrichment.project.name }}]", context()) == "[]"
    assert templates.render("{{ enrichment.error or 'ok' }}", context()) == "ok"


@pytest.mark.parametrize(
    "source",
    [
        # Names computed at run time slip past the save-time check; the sandbox stops them.
        "{% set a = '_' ~ '_class__' %}{{ ''|attr(a) }}",
        "{% set a = '__glo' ~ 'bals__' %}{{ lipsum[a] }}",
        "{{ '{0.__class__}'.format(event) }}",
    ],
)
def test_runtime_escapes_are_refused_by_the_sandbox(source: str) -> None:
    templates.check(source)
    with pytest.raises(RenderFailed, match=r"^template refused by the sandbox: .*unsafe"):
        templates.render(source, context())


def test_mutating_the_context_is_refused() -> None:
    source = "{{ event.update({'name': 'x'}) }}"
    with pytest.raises(RenderFailed, match="sandbox"):
        templates.render(source, context())


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ event.name / 0 }}", "TypeError"),
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ event.resource_name | round }}", "TypeError"),
        ("{% for i in range(10**9) %}{% endfor %}", "render error"),
        ("{{ event.name.nope() }}", "render error"),
    ],
)
def test_render_errors_become_render_failed_with_the_reason(source: str, reason: str) -> None:
    with pytest.raises(RenderFailed) as caught:
        templates.render(source, context())
    assert reason in str(caught.value)


def test_render_refuses_a_body_over_the_limit() -> None:
    source = f"{{{{ 'x' * {templates.RENDERED_MAX_CHARS + 1} }}}}"
    with pytest.raises(RenderFailed, match="over"):
        templates.render(source, context())
    assert len(templates.render("{{ 'x' * 1000 }}", context())) == 1000

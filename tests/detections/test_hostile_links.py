"""Links taken from documents, rules and the ATT&CK catalogue: only http(s) and relative ones are stored or served.

Issue 13, item 2: an imported strategy whose Additional Resources held a `javascript:` link was
served as `<a href="javascript:...">`. The checks below read every href and src of the served
page the way a browser does (entities decoded, tabs, newlines and leading controls dropped) and
do not reuse the portal's own URL check, so they cannot agree with it by construction.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from detections.ads import AdsParseError
from detections.links import is_safe_url
from detections.models import Resource, Strategy, StrategyTechnique, Technique
from detections.rendering import render_markdown
from detections.services.rules import save_sigma_rule
from detections.services.strategies import import_strategy

HOSTILE_URLS = [
    "javascript:alert(document.domain)",
    "JAVASCRIPT:alert(1)",
    " javascript:alert(1)",
    "java&#x09;script:alert(1)",
    "java&Tab;script:alert(1)",
    "javascript&colon;alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
]
SAFE_URLS = [
    "https://falco.org/docs/",
    "http://example.org/a?b=c#d",
    "/detections/rules/",
    "#goal",
    "//cdn.example.org/x",
]


def document(*links: str) -> str:
    items = "\n".join(f"- [Resource {n}]({url})" for n, url in enumerate(links))
    return f"# Hostile resources\n\n## Goal\n\nDetect things.\n\n## Additional Resources\n\n{items}\n"


class _Links(HTMLParser):
    """Every href and src value as the browser sees it (HTMLParser decodes entities like a browser)."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls.extend(value or "" for name, value in attrs if name in {"href", "src", "action", "formaction"})


def served_urls(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.urls


def browser_scheme(url: str) -> str:
    """The scheme a browser would use (WHATWG URL: leading C0/space stripped, tab and newline removed)."""
    url = re.sub(r"[\t\n\r]", "", url.lstrip("".join(map(chr, range(0x21)))))
    match = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*):", url)
    return match.group(1).lower() if match else ""


def assert_inert(html: str) -> None:
    schemes = {browser_scheme(url) for url in served_urls(html)}
    assert schemes <= {"", "http", "https", "mailto"}, schemes


# The URL check itself -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", [*HOSTILE_URLS, "java\tscript:alert(1)", "\x01javascript:x", "java\nscript:x", "ftp://x"]
)
def test_a_url_with_any_scheme_but_http_is_not_safe(url):
    assert not is_safe_url(url)


@pytest.mark.parametrize("url", [*SAFE_URLS, "HTTPS://EXAMPLE.ORG", "docs/page.html", "?page=2", "a/b:c"])
def test_http_https_and_relative_urls_are_safe(url):
    assert is_safe_url(url)


def test_a_url_that_only_entities_make_dangerous_is_not_safe_however_deeply_encoded():
    assert not is_safe_url("java&amp;#x09;script:alert(1)")


# Import: the service and the API refuse the document, naming the line -------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_import_refuses_a_resource_link_that_is_not_http_and_names_its_line(url):
    text = document("https://falco.org/docs/", url)
    with pytest.raises(AdsParseError) as caught:
        import_strategy(text=text, slug="hostile")
    assert caught.value.line == text.splitlines().index(f"- [Resource 1]({url})") + 1
    assert "http" in caught.value.message
    assert not Strategy.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_api_import_of_a_hostile_resource_link_is_a_400_naming_the_line_and_keeps_what_was_stored(engineer, url):
    import_strategy(text=document("https://falco.org/docs/"), slug="hostile")
    api = APIClient()
    api.force_authenticate(engineer)
    text = document(url)
    response = api.post("/api/v1/strategies/import/", {"markdown": text, "slug": "hostile"}, format="json")
    line = text.splitlines().index(f"- [Resource 0]({url})") + 1
    assert response.status_code == 400
    assert response.json()["line"] == line and f"line {line}" in response.json()["detail"]
    assert list(Resource.objects.values_list("url", flat=True)) == ["https://falco.org/docs/"]


@pytest.mark.django_db
def test_safe_resource_links_are_stored_and_served_as_links(client, analyst):
    strategy = import_strategy(text=document(*SAFE_URLS), slug="safe").strategy
    assert list(strategy.resources.values_list("url", flat=True)) == SAFE_URLS
    client.force_login(analyst)
    served = served_urls(client.get(strategy.get_absolute_url()).content.decode())
    assert set(SAFE_URLS) <= set(served)


# Render: whatever is already stored is served inert ---------------------------------------------


@pytest.mark.django_db
def test_hostile_urls_already_stored_are_served_inert_on_the_strategy_page(client, analyst):
    strategy = Strategy.objects.create(title="Stored before the fix", slug="stored")
    for order, url in enumerate([*HOSTILE_URLS, "java\tscript:alert(1)"]):
        Resource.objects.create(strategy=strategy, order=order, title=f"Resource {order}", url=url)
    technique = Technique.objects.create(attack_id="T1610", name="Deploy Container", url="javascript:alert('attack')")
    StrategyTechnique.objects.create(strategy=strategy, attack_id="T1610", technique=technique)
    client.force_login(analyst)
    html = client.get(strategy.get_absolute_url()).content.decode()
    assert "Resource 0" in html and "Deploy Container" in html  # the titles are still shown, as text
    assert_inert(html)


@pytest.mark.django_db
def test_the_model_refuses_a_resource_link_that_is_not_http():
    strategy = Strategy.objects.create(title="Admin edit", slug="admin-edit")
    for url in ("javascript:alert(1)", "ftp://files.example.org/x"):
        with pytest.raises(ValidationError) as caught:
            Resource(strategy=strategy, title="x", url=url).full_clean()
        assert "url" in caught.value.message_dict
    Resource(strategy=strategy, title="x", url="https://falco.org/").full_clean()


@pytest.mark.django_db
def test_sigma_references_are_served_inert_on_the_rule_page(client, analyst):
    rule = save_sigma_rule(
        yaml_text="""
title: Hostile references
id: 3f0e4c1a-1111-4d2b-9c3e-000000000013
status: test
level: low
references:
    - javascript:alert(1)
    - data:text/html,<script>alert(2)</script>
logsource: {category: process_creation, product: linux}
detection:
  selection: {Image|endswith: /nc}
  condition: selection
"""
    )
    client.force_login(analyst)
    html = client.get(rule.get_absolute_url()).content.decode()
    assert "javascript:alert(1)" in html  # shown as text in the YAML
    assert_inert(html)


@pytest.mark.parametrize("url", [*HOSTILE_URLS, "java\tscript:alert(1)"])
def test_markdown_links_with_a_hostile_url_are_inert(url):
    html = render_markdown(f"[click]({url}) and <{url}> and ![img]({url})")
    assert_inert(html)
    assert "<img" not in html


def test_markdown_keeps_http_mailto_and_relative_links():
    html = render_markdown("[a](https://falco.org/) [b](mailto:soc@example.org) [c](/detections/) [d](#goal)")
    assert served_urls(html) == ["https://falco.org/", "mailto:soc@example.org", "/detections/", "#goal"]

"""An analyst's whole triage, in Debian's Chromium against the live site (daphne, websockets, ingest API).

The story: attacks on a production cluster (`kubectl exec` into pods) are ingested through the
ingest API and raise alerts. The analyst logs in, keeps the open queue on screen with a row
selected while a new attack arrives (the row appears without a reload and the selection stays),
opens the new alert, rules out false positives and works the playbook, produces the isolation
manifest, closes it as a true positive and another alert as a false positive, files alerts in
cases and merges them, and finds every step in the audit trail. Screenshots of the pages are
saved as artefacts. Each step is a function named for what the analyst does; the checks are
Playwright's auto-waiting `expect`, never a fixed sleep.

The false positive is suppressed for the future from "Suppress similar", whose impact on past
matches is shown before it can be saved; the walk ends on the dashboard, which counts the verdicts.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import Locator, Page, expect

from tests.browser.live_site import DEMO_PASSWORD, LiveSite

pytestmark = pytest.mark.browser

ROWS = "#alert-rows tr.alert-row"
_sequence = itertools.count(1)


# --------------------------------------------------------------------------- telemetry the attacker leaves


def kubectl_exec(*, namespace: str, pod: str, user: str = "mallory") -> str:
    """The API server's audit Event of a `kubectl exec` session being opened (stage ResponseStarted)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(
        {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": "Metadata",
            "auditID": str(uuid.uuid4()),
            "stage": "ResponseStarted",
            "requestURI": f"/api/v1/namespaces/{namespace}/pods/{pod}/exec?command=sh&stdin=true&tty=true",
            "verb": "create",
            "user": {"username": user, "groups": ["system:authenticated"]},
            "sourceIPs": [f"203.0.113.{next(_sequence)}"],
            "userAgent": "kubectl/v1.31.0",
            "objectRef": {
                "resource": "pods",
                "namespace": namespace,
                "name": pod,
                "apiVersion": "v1",
                "subresource": "exec",
            },
            "responseStatus": {"metadata": {}, "code": 101},
            "requestReceivedTimestamp": stamp,
            "stageTimestamp": stamp,
        }
    )


def ingest_exec_sessions(site: LiveSite, entities: list[str]) -> None:
    report = site.ingest([kubectl_exec(namespace=e.split("/")[0], pod=e.split("/")[1]) for e in entities])
    assert (report["accepted"], report["rejected"]) == (len(entities), 0), report


def wait_for_alerts_on(page: Page, entities: list[str], timeout_seconds: float = 30) -> None:
    """Poll the alerts API (the analyst's session) until each entity has its alert: on the Redis run a
    worker raises them after the ingest has answered."""
    deadline = time.monotonic() + timeout_seconds
    missing = set(entities)
    while missing and time.monotonic() < deadline:
        answer = page.request.get("/api/v1/alerts/?source=cluster-prod")
        assert answer.ok, answer.text()
        missing -= {a["entity"] for a in answer.json()["results"]}
        if missing:
            time.sleep(0.2)
    assert not missing, f"no alert raised for {sorted(missing)} within {timeout_seconds} s"


# --------------------------------------------------------------------------- what the analyst does


def log_in_as_analyst(page: Page) -> None:
    page.goto("/triage/alerts/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.get_by_label("Username").fill("analyst")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("header .who")).to_have_text("analyst")


def open_the_queue(page: Page, *, expected_rows: int) -> None:
    page.goto("/triage/alerts/")
    expect(page.locator(ROWS)).to_have_count(expected_rows)
    # The websocket is up before anything is ingested, or a push could be missed.
    expect(page.locator("#live-status")).to_have_text("Live")


def row_of(page: Page, entity: str) -> Locator:
    return page.locator(ROWS, has_text=entity)


def show_the_keyboard_help(page: Page) -> None:
    help_box = page.locator("#shortcuts")
    expect(help_box).to_be_hidden()
    page.get_by_role("button", name="Shortcuts (?)").click()
    expect(help_box).to_be_visible()
    expect(help_box).to_contain_text("x select")
    page.get_by_role("button", name="Shortcuts (?)").click()
    expect(help_box).to_be_hidden()


def select_the_top_row_with_the_keyboard(page: Page) -> str:
    page.keyboard.press("j")  # the cursor lands on the first row
    focused = page.locator(f"{ROWS}.is-focused")
    expect(focused).to_have_count(1)
    alert_id = focused.get_attribute("data-alert")
    page.keyboard.press("x")
    expect(focused.locator("input[name=alert]")).to_be_checked()
    expect(page.locator("#selected-count")).to_have_text("1 selected")
    return alert_id


def a_new_attack_appears_without_a_reload(site: LiveSite, page: Page, *, entity: str, selected: str) -> str:
    page.evaluate("window.__queueNotReloaded = true")  # a reload would forget it
    ingest_exec_sessions(site, [entity])
    new_row = row_of(page, entity)
    expect(new_row).to_have_count(1)
    expect(page.locator(ROWS).first).to_have_attribute("data-alert", new_row.get_attribute("data-alert"))
    assert page.evaluate("window.__queueNotReloaded") is True, "the queue page was reloaded"
    expect(page.locator("#queue-count")).to_have_text(f"{page.locator(ROWS).count()} alert(s) match.")
    # The analyst's selection and cursor survive the push.
    selected_row = page.locator(f"#alert-row-{selected}")
    expect(selected_row.locator("input[name=alert]")).to_be_checked()
    expect(selected_row).to_have_class(re.compile(r"\bis-focused\b"))
    expect(page.locator("#selected-count")).to_have_text("1 selected")
    return new_row.get_attribute("data-alert")


def open_the_alert(page: Page, entity: str) -> None:
    row_of(page, entity).locator("td.title a").first.click()
    expect(page.locator("#alert-header h1")).to_contain_text(entity)


def _playbook_steps(page: Page, kind: str) -> Locator:
    return page.locator(f"#playbook {'ol' if kind == 'response' else 'ul'}.steps li.step")


def _tick(page: Page, step: Locator, *, note: str = "") -> None:
    done_before = page.locator("#playbook li.step.done").count()
    if note:
        step.locator("input.note").fill(note)
    step.get_by_role("button", name="Mark done").click()
    expect(page.locator("#playbook li.step.done")).to_have_count(done_before + 1)


def tick_false_positive_checks(page: Page, *, count: int) -> None:
    total = page.locator("#playbook li.step").count()
    progress = page.locator("#playbook progress")
    for position in range(count):
        before = progress.get_attribute("value")
        step = _playbook_steps(page, "false_positive").nth(position)
        _tick(page, step)
        expect(progress).not_to_have_attribute("value", before)  # the bar moves with each tick
        expect(_playbook_steps(page, "false_positive").nth(position)).to_contain_text(
            re.compile(r"done by analyst \d{4}-\d\d-\d\d \d\d:\d\d")
        )
    expect(page.locator("#playbook h2")).to_contain_text(f"{count} of {total} done")


def complete_playbook_steps(page: Page, *, notes: list[str]) -> None:
    done = page.locator("#playbook li.step.done").count()
    total = page.locator("#playbook li.step").count()
    for position, note in enumerate(notes):
        _tick(page, _playbook_steps(page, "response").nth(position), note=note)
        expect(_playbook_steps(page, "response").nth(position)).to_contain_text("done by analyst")
        expect(_playbook_steps(page, "response").nth(position)).to_contain_text(note)
    expect(page.locator("#playbook h2")).to_contain_text(f"{done + len(notes)} of {total} done")
    expect(page.locator("#timeline")).to_contain_text("alert.playbook")


def produce_the_isolation_manifest(page: Page, artefacts: Path, *, namespace: str, pod: str) -> dict:
    actions = page.locator("#response-actions")
    expect(actions).to_contain_text("No response action taken.")
    actions.get_by_role("button", name="Isolate container").click()
    expect(actions).to_contain_text("Manifest produced")
    with page.expect_download() as download_info:
        actions.get_by_role("link", name="Download manifest").click()
    download = download_info.value
    saved = artefacts / download.suggested_filename
    download.save_as(saved)
    policy = yaml.safe_load(saved.read_text())
    assert saved.suffix == ".yaml" and policy["kind"] == "NetworkPolicy", policy
    assert policy["apiVersion"] == "networking.k8s.io/v1"
    assert policy["metadata"]["namespace"] == namespace
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]  # deny all, both ways
    assert "ingress" not in policy["spec"] and "egress" not in policy["spec"]
    assert f"kubectl label pod --namespace {namespace} {pod}" in saved.read_text()  # its labels are unknown
    return policy


def close_the_alert_as(page: Page, disposition: str, *, reason: str) -> None:
    header = page.locator("#alert-header")
    header.locator("summary", has_text="Close…").click()
    header.get_by_label("Disposition").select_option(label=disposition)
    header.get_by_label("Reason").fill(reason)
    header.get_by_role("button", name="Close alert").click()
    expect(header.locator(".verdict")).to_contain_text(f"Closed as {disposition} by analyst")
    expect(header.locator(".verdict")).to_contain_text(reason)
    expect(header.locator(".badge.st-closed")).to_be_visible()


def suppress_similar_with_its_impact_shown(page: Page, *, entity: str, reason: str) -> None:
    """Closing as a false positive opens the prefilled "Suppress similar"; Save waits for the preview."""
    section = page.locator("#suppress-similar")
    expect(section.locator("details")).to_have_attribute("open", "")
    entity_row = section.locator("tr", has=page.locator(".origin", has_text="entity"))
    expect(entity_row.locator("input[name=cond_value]")).to_have_value(entity)
    save = section.get_by_role("button", name="Save suppression")
    expect(save).to_be_disabled()
    section.locator("textarea[name=reason]").fill(reason)
    section.get_by_role("button", name="Preview impact").click()
    impact = section.locator(".impact.ok")
    expect(impact).to_contain_text("would have been suppressed")
    expect(impact.locator("strong").first).to_have_text(re.compile(r"^[1-9]\d*$"))  # at least this alert's match
    expect(impact).to_contain_text("this alert")
    expect(save).to_be_enabled()
    save.click()
    expect(section.locator(".notice")).to_contain_text("Saved")
    expect(section.locator(".saved-suppression")).to_contain_text(reason)
    expect(page.locator("#timeline")).to_contain_text("alert.suppress_similar")


def the_dashboard_counts_the_verdicts(page: Page, *, true_positives: int, false_positives: int) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page.locator("h1")).to_contain_text("Dashboard")
    expect(page.locator("svg").first).to_be_visible()
    closed = true_positives + false_positives
    figures = page.locator("dl.figures").first
    expect(figures.locator("div", has=page.get_by_text("True positives", exact=True)).locator("dd.muted")).to_have_text(
        f"{true_positives} of {closed} closed with a disposition"
    )
    expect(
        figures.locator("div", has=page.get_by_text("False positives", exact=True)).locator("dd.muted")
    ).to_have_text(f"{false_positives} of {closed}")


def back_to_the_queue(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Queue").click()
    expect(page.locator("#live-status")).to_have_text("Live")


def file_the_selected_alerts_in_a_new_case(page: Page, entities: list[str], *, title: str) -> str:
    for entity in entities:
        row_of(page, entity).locator("input[name=alert]").check()
    expect(page.locator("#selected-count")).to_have_text(f"{len(entities)} selected")
    bulk = page.locator("#bulk-form")
    bulk.get_by_label("Bulk action").select_option(label="Add to case")
    expect(bulk.get_by_label("Case", exact=True)).to_have_value("new")
    bulk.get_by_label("New case title").fill(title)
    bulk.get_by_role("button", name="Apply").click()
    expect(page.locator("#bulk-result")).to_have_text(f"{len(entities)} alert(s) changed.")
    badges = [row_of(page, entity).locator("a.badge.case") for entity in entities]
    for badge in badges:
        expect(badge).to_have_text(re.compile(r"CASE-\d+"))
    references = {badge.inner_text() for badge in badges}
    assert len(references) == 1, references
    return references.pop()


def file_the_open_alert_in_a_new_case(page: Page, *, title: str) -> str:
    header = page.locator("#alert-header")
    header.locator("summary", has_text="Add to case…").click()
    header.get_by_label("Case", exact=True).select_option("new")
    header.locator("input[name=case_title]").fill(title)
    header.get_by_role("button", name="File").click()
    case_link = header.locator("dd a", has_text=re.compile(r"^CASE-\d+$"))
    expect(case_link).to_be_visible()
    return case_link.inner_text()


def merge_the_case_into(page: Page, source: str, target: str) -> None:
    page.get_by_role("link", name=source, exact=True).first.click()
    expect(page.locator("h1")).to_contain_text(source)
    page.locator("summary", has_text="Merge into…").click()
    choice = page.get_by_label("Case to merge into")
    choice.select_option(choice.locator("option", has_text=f"{target} ").get_attribute("value"))
    page.get_by_role("button", name="Merge").click()
    expect(page.locator("h1")).to_contain_text(target)
    expect(page.locator(".messages")).to_contain_text(f"{source} merged into {target}.")


def the_case_lists_each_alert_once(page: Page, alert_ids: list[str], *, absorbed: str) -> None:
    table = page.locator("section.card", has=page.get_by_role("heading", name="Alerts", exact=True)).locator("tbody tr")
    expect(table).to_have_count(len(alert_ids))
    links = table.locator("td a[href*='/triage/alerts/']")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert sorted(hrefs) == sorted(f"/triage/alerts/{i}/" for i in alert_ids), hrefs
    expect(page.locator(".facts div", has_text="Absorbed").locator("dd")).to_contain_text(absorbed)


def the_audit_trail_lists_what_was_done(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit").click()
    page.get_by_label("Who").fill("analyst")
    page.get_by_role("button", name="Filter").click()
    actions = page.locator("table tbody td:nth-child(3) code")
    expect(actions.first).to_be_visible()
    done = actions.all_inner_texts()
    for expected, times in {
        "alert.playbook": 4,
        "alert.isolate": 1,
        "alert.close": 2,
        "case.open": 2,
        "case.merge": 1,
        "case.absorb": 1,
        "alert.suppress_similar": 1,
        "suppression.create": 1,
    }.items():
        assert done.count(expected) == times, f"{expected}: {done.count(expected)} of {times} in {done}"
    expect(page.locator("table tbody")).to_contain_text("analyst")


def screenshot(page: Page, artefacts: Path, name: str) -> None:
    """The page as a user sees it, full length, wide and narrow (layout breaks show at 1000 px)."""
    page.evaluate("window.scrollTo(0, 0)")  # else the sticky top bar is drawn where the page was scrolled to
    page.screenshot(path=artefacts / f"{name}.png", full_page=True)
    page.set_viewport_size({"width": 1000, "height": 1000})
    page.screenshot(path=artefacts / f"{name}-1000px.png", full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})


# --------------------------------------------------------------------------- the walk


def test_an_analyst_triages_attacks_from_the_live_queue_to_a_merged_case(site, page, browser_errors, artefacts):
    seeded = ["shop/web-1", "shop/web-2", "shop/api-1"]
    newcomer = "payments/pay-1"

    log_in_as_analyst(page)
    ingest_exec_sessions(site, seeded)
    wait_for_alerts_on(page, seeded)
    open_the_queue(page, expected_rows=len(seeded))
    show_the_keyboard_help(page)
    selected = select_the_top_row_with_the_keyboard(page)
    new_alert = a_new_attack_appears_without_a_reload(site, page, entity=newcomer, selected=selected)
    screenshot(page, artefacts, "queue")

    open_the_alert(page, newcomer)
    tick_false_positive_checks(page, count=2)
    complete_playbook_steps(page, notes=["exec'd from an unknown laptop", "the payments team planned no change"])
    produce_the_isolation_manifest(page, artefacts, namespace="payments", pod="pay-1")
    screenshot(page, artefacts, "alert")
    close_the_alert_as(page, "True positive", reason="interactive shell in pay-1 by mallory from outside")
    payments_case = file_the_open_alert_in_a_new_case(page, title="Intrusion in the payments namespace")

    back_to_the_queue(page)
    open_the_alert(page, "shop/web-1")
    close_the_alert_as(page, "False positive", reason="platform on-call debugging web-1 under an open incident")
    suppress_similar_with_its_impact_shown(
        page, entity="shop/web-1", reason="on-call debugging of web-1 under incident INC-4711"
    )

    back_to_the_queue(page)
    expect(page.locator(ROWS)).to_have_count(2)  # the two closed alerts left the open queue
    shop_case = file_the_selected_alerts_in_a_new_case(
        page, ["shop/web-2", "shop/api-1"], title="Exec sessions in shop"
    )
    shop_ids = [row_of(page, e).get_attribute("data-alert") for e in ["shop/web-2", "shop/api-1"]]

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cases").click()
    merge_the_case_into(page, payments_case, shop_case)
    the_case_lists_each_alert_once(page, [*shop_ids, new_alert], absorbed=payments_case)
    screenshot(page, artefacts, "case")

    the_audit_trail_lists_what_was_done(page)
    screenshot(page, artefacts, "audit")
    the_dashboard_counts_the_verdicts(page, true_positives=1, false_positives=1)
    screenshot(page, artefacts, "dashboard")

    assert browser_errors.seen == [], "\n".join(browser_errors.seen)


def test_a_script_the_policy_blocks_is_reported_as_a_browser_error(site, page, browser_errors):
    """The walk's last check (no browser error) can fail: markup slipped into a page is refused by the
    CSP, and the refusal is what the watch records."""
    log_in_as_analyst(page)
    page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.__ran = true";
            document.body.appendChild(script);
        }"""
    )
    assert page.evaluate("window.__ran") is None  # the policy refused it
    assert any("Content Security Policy" in seen for seen in browser_errors.seen), browser_errors.seen

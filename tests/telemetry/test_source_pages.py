"""Source pages: health list, detail with recent batches, and the analysts' upload (same report as the API)."""

import gzip
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from telemetry.models import Event, IngestBatch, Source

pytestmark = pytest.mark.django_db


@pytest.fixture
def k8s(make_source):
    return make_source("cluster-audit", "k8s_audit", expected_cadence_seconds=60, description="<b>prod</b>")


def upload_url(source):
    return reverse("telemetry:source_upload", args=[source.name])


def test_analyst_uploads_a_file_and_sees_the_report_with_line_numbers(client, analyst, k8s, shared_data):
    client.force_login(analyst)
    good = (shared_data / "k8s-audit-falco" / "trace_files" / "exec_pod.json").read_bytes().strip()
    body = good + b"\n" + b'{"kind": "Event", "verb": <script>alert(1)</script>}\n'
    response = client.post(upload_url(k8s), {"file": SimpleUploadedFile("audit.json", body)})
    assert response.status_code == 200
    page = response.content.decode()
    assert "1</strong> accepted" in page and "1</strong> rejected" in page
    assert "<td>2</td>" in page  # the bad record's line
    assert "<script>alert(1)" not in page and "&lt;b&gt;prod&lt;/b&gt;" in page
    batch = IngestBatch.objects.get()
    assert (batch.channel, batch.uploaded_by, batch.filename) == (IngestBatch.Channel.UPLOAD, analyst, "audit.json")
    assert Event.objects.filter(k8s_subresource="exec").count() == 1


def test_htmx_upload_answers_with_the_report_partial(client, analyst, k8s, shared_data):
    client.force_login(analyst)
    body = gzip.compress((shared_data / "k8s-audit-falco" / "trace_files" / "exec_pod.json").read_bytes())
    response = client.post(upload_url(k8s), {"file": SimpleUploadedFile("audit.json.gz", body)}, HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert page.startswith('<div id="ingest-report">') and "<html" not in page
    assert "1</strong> accepted" in page


def test_users_without_the_permission_cannot_upload(client, k8s, django_user_model):
    user = django_user_model.objects.create_user("viewer", password="pw-for-tests-1")
    client.force_login(user)
    response = client.post(upload_url(k8s), {"file": SimpleUploadedFile("a.json", b"{}")})
    assert response.status_code == 403
    assert not IngestBatch.objects.exists()


def test_source_list_shows_health_and_the_silent_flag(client, analyst, k8s):
    client.force_login(analyst)
    # Registered long ago, never delivered, expected every 60 s: silent.
    Source.objects.filter(pk=k8s.pk).update(created_at=timezone.now() - timedelta(days=1))
    page = client.get(reverse("telemetry:source_list")).content.decode()
    assert "cluster-audit" in page and "silent for" in page


def test_source_detail_lists_recent_batches_and_shows_one(client, analyst, k8s, shared_data):
    client.force_login(analyst)
    client.post(upload_url(k8s), {"file": SimpleUploadedFile("x.json", b'{"kind": 0}\n')})
    batch = IngestBatch.objects.get()
    page = client.get(reverse("telemetry:source_detail", args=[k8s.name]), {"batch": batch.pk}).content.decode()
    assert "x.json" in page and f"Batch {batch.pk}" in page and "not an audit.k8s.io Event" in page

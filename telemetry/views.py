"""Telemetry pages: source health, a source's recent batches, and the analysts' file upload.

Thin: uploads go through telemetry.services.ingest_stream (the same path as the
API and the CLI), reads through telemetry.selectors.
"""

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from ads_portal.params import BadParameter, parse_id
from telemetry.models import IngestBatch, Source
from telemetry.selectors import recent_batches, source_health
from telemetry.services import IngestError, IngestReport, ingest_stream


class UploadForm(forms.Form):
    file = forms.FileField(help_text="The source's own format: JSON, NDJSON, Zeek TSV, ... (.gz accepted).")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > settings.INGEST_MAX_BODY_BYTES:
            raise forms.ValidationError(f"The file is larger than {settings.INGEST_MAX_BODY_BYTES} bytes.")
        return upload


def source_list(request):
    return render(request, "telemetry/source_list.html", {"health": source_health()})


def _detail_context(request, source, **extra):
    health = next((h for h in source_health() if h.source.pk == source.pk), None)
    shown_batch = None
    batch_id = extra.pop("batch_id", None)
    if batch_id is not None:
        shown_batch = source.batches.filter(pk=batch_id).first()
    return {
        "source": source,
        "health": health,
        "batches": recent_batches(source),
        "report": _report_of(shown_batch) if shown_batch else None,
        "form": UploadForm(),
        "can_upload": request.user.has_perm("telemetry.add_ingestbatch"),
        **extra,
    }


def source_detail(request, name):
    source = get_object_or_404(Source, name=name)
    try:
        batch_id = parse_id("batch", request.GET.get("batch"))
    except BadParameter as bad:  # an id past the database's range was a 500
        context = _detail_context(request, source, param_error=str(bad))
        return render(request, "telemetry/source_detail.html", context, status=400)
    return render(request, "telemetry/source_detail.html", _detail_context(request, source, batch_id=batch_id))


@require_POST
@permission_required("telemetry.add_ingestbatch", raise_exception=True)
def source_upload(request, name):
    source = get_object_or_404(Source, name=name)
    form = UploadForm(request.POST, request.FILES)
    report, error = None, None
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            report = ingest_stream(
                source=source,
                stream=upload,
                channel=IngestBatch.Channel.UPLOAD,
                filename=upload.name,
                user=request.user,
            )
        except IngestError as exc:
            error = f"{exc}; nothing was stored."
    else:
        error = "; ".join(" ".join(errors) for errors in form.errors.values())
    status = 400 if error else 200
    if request.htmx:
        context = {"source": source, "report": report, "error": error}
        return render(request, "telemetry/partials/ingest_report.html", context, status=status)
    context = _detail_context(request, source, report=report, error=error)
    if error and not form.is_valid():
        context["form"] = form
    return render(request, "telemetry/source_detail.html", context, status=status)


def _report_of(batch: IngestBatch) -> IngestReport:
    return IngestReport(
        batch_id=batch.pk,
        accepted=batch.accepted,
        duplicates=batch.duplicates,
        rejected=batch.rejected,
        rejections=batch.rejections,
    )

"""Telemetry pages. (Initial version: sources; health, upload grow here.)"""

from django.shortcuts import get_object_or_404, render

from telemetry.models import Source


def source_list(request):
    return render(request, "telemetry/source_list.html", {"sources": Source.objects.all()})


def source_detail(request, name):
    return render(request, "telemetry/source_detail.html", {"source": get_object_or_404(Source, name=name)})

"""The ingest endpoint: producers POST telemetry to /api/v1/ingest/<source>/.

Authenticated by the source's own ingest token (`Authorization: Bearer <token>`),
not by user accounts, so a token leaked from one producer opens one source only.
The view checks the request's shape (size, type, encoding) and hands the body,
as a stream, to telemetry.services.ingest_stream; it holds no ingest logic.
"""

import hmac

from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from telemetry.api.serializers import ErrorSerializer, IngestReportSerializer
from telemetry.models import IngestBatch, Source
from telemetry.services import DeliveryTooLarge, DeliveryUnreadable, SourceDisabled, ingest_stream

ACCEPTED_CONTENT_TYPES = frozenset(
    {
        "application/json",
        "application/x-ndjson",
        "application/jsonl",
        "application/json-seq",
        "text/plain",
        "application/gzip",
        "application/x-gzip",
        "application/octet-stream",
    }
)
ACCEPTED_CONTENT_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip"})


def _error(status_code: int, detail: str, headers: dict | None = None) -> Response:
    return Response({"detail": detail}, status=status_code, headers=headers)


def _bearer_token(request) -> str | None:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class IngestView(APIView):
    # The ingest token is the only credential here: no sessions (so no CSRF), no user accounts.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    # The body is read as a stream by ingest_stream; DRF's parsers never see it.
    parser_classes: list = []

    @extend_schema(
        operation_id="ingest_events",
        summary="Ingest telemetry for one source",
        description=(
            "Send `Authorization: Bearer <the source's ingest token>`. The body is the source's own format: "
            "a JSON object, a JSON array, NDJSON, or its text format (Zeek TSV, Prometheus text, audit.log); "
            "`Content-Encoding: gzip` or a gzip body is accepted. Valid records are stored, malformed ones are "
            "reported with their line numbers; redelivered records count as duplicates."
        ),
        request=dict.fromkeys(sorted(ACCEPTED_CONTENT_TYPES), OpenApiTypes.BINARY),
        responses={
            200: OpenApiResponse(IngestReportSerializer, description="Read; no new event stored."),
            201: OpenApiResponse(IngestReportSerializer, description="Read; new events stored."),
            400: OpenApiResponse(ErrorSerializer, description="Body could not be read (broken gzip)."),
            401: OpenApiResponse(ErrorSerializer, description="No bearer token."),
            403: OpenApiResponse(ErrorSerializer, description="Wrong token, or the source is disabled."),
            404: OpenApiResponse(ErrorSerializer, description="No such source."),
            413: OpenApiResponse(ErrorSerializer, description="Body, or its decompressed content, too large."),
            415: OpenApiResponse(ErrorSerializer, description="Content type or encoding not accepted."),
        },
        auth=[],
        tags=["ingest"],
    )
    def post(self, request, source: str):
        source_obj = get_object_or_404(Source, name=source)
        token = _bearer_token(request)
        if token is None:
            return _error(
                401,
                "Send the source's ingest token as 'Authorization: Bearer <token>'.",
                headers={"WWW-Authenticate": 'Bearer realm="ingest"'},
            )
        if not hmac.compare_digest(token.encode(), source_obj.ingest_token.encode()):
            return _error(403, "The token is not this source's ingest token.")
        if not source_obj.enabled:
            return _error(403, f"Source {source_obj.name} is disabled; its deliveries are refused.")

        django_request = request._request
        content_type = (django_request.content_type or "").lower()
        if content_type not in ACCEPTED_CONTENT_TYPES:
            return _error(
                415,
                f"Content type {content_type or '(none)'!r} is not accepted; send one of "
                f"{', '.join(sorted(ACCEPTED_CONTENT_TYPES))}.",
            )
        encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        if encoding not in ACCEPTED_CONTENT_ENCODINGS:
            return _error(415, f"Content-Encoding {encoding!r} is not accepted; send gzip or none.")
        max_body_bytes = settings.INGEST_MAX_BODY_BYTES
        try:
            declared_length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _error(400, "Content-Length is not a number.")
        if declared_length > max_body_bytes:
            return _error(413, f"The body is larger than {max_body_bytes} bytes.")

        try:
            report = ingest_stream(
                source=source_obj,
                stream=django_request,
                channel=IngestBatch.Channel.API,
                max_body_bytes=max_body_bytes,
                max_decompressed_bytes=settings.INGEST_MAX_DECOMPRESSED_BYTES,
            )
        except DeliveryTooLarge as exc:
            return _error(413, f"{exc}; nothing was stored.")
        except DeliveryUnreadable as exc:
            return _error(400, f"{exc}; nothing was stored.")
        except SourceDisabled as exc:
            return _error(403, str(exc))
        return Response(report.as_dict(), status=status.HTTP_201_CREATED if report.accepted else status.HTTP_200_OK)

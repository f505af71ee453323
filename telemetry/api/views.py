"""The ingest endpoint: producers POST telemetry to /api/v1/ingest/<source>/.

Authenticated by the source's own ingest token (`Authorization: Bearer <token>`),
not by user accounts, so a token leaked from one producer opens one source only.
The view checks the request's shape (size, type, encoding) and hands the body,
as a stream, to telemetry.services.ingest_stream; it holds no ingest logic.
"""

import hmac
import io

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from telemetry.api.serializers import ErrorSerializer, IngestReportSerializer
from telemetry.models import IngestBatch, Source, new_ingest_token
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


# Compared against when the source does not exist, so an unknown name costs the same time as a known one.
_NO_TOKEN = new_ingest_token()


def _authenticated_source(request, name: str) -> Source | None:
    """The source named in the URL if the request carries its ingest token, else None (whatever the reason)."""
    source = Source.objects.filter(name=name).first()
    token = _bearer_token(request) or ""
    expected = source.ingest_token if source is not None else _NO_TOKEN
    if not hmac.compare_digest(token.encode(), expected.encode()) or source is None or not token:
        return None
    return source


def _spooled_body_size(django_request) -> int | None:
    """The body's size when the server already holds all of it, else None.

    Under ASGI (daphne) Django reads the whole body into a temporary file before the view
    runs, whether or not it came with a Content-Length (chunked uploads do not): its size
    answers an oversized body at once, instead of after parsing the bound's worth of it.
    """
    body = getattr(django_request, "_stream", None)
    if body is None or not getattr(body, "seekable", lambda: False)():
        return None
    position = body.tell()
    size = body.seek(0, io.SEEK_END)
    body.seek(position)
    return size - position


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
            401: OpenApiResponse(
                ErrorSerializer,
                description="No such source, or no valid token for it (one answer, so names cannot be probed).",
            ),
            403: OpenApiResponse(ErrorSerializer, description="The source is disabled (told to its token holder)."),
            413: OpenApiResponse(ErrorSerializer, description="Body, or its decompressed content, too large."),
            415: OpenApiResponse(ErrorSerializer, description="Content type or encoding not accepted."),
        },
        auth=[],
        tags=["ingest"],
    )
    def post(self, request, source: str):
        source_obj = _authenticated_source(request, source)
        if source_obj is None:
            # One answer for an unknown source, no token, a wrong token and another source's
            # token: a different one would tell a caller which source names exist.
            return _error(
                401,
                "Send this source's ingest token as 'Authorization: Bearer <token>'.",
                headers={"WWW-Authenticate": 'Bearer realm="ingest"'},
            )
        if not source_obj.enabled:
            return _error(403, f"Source {source_obj.name} is disabled; its deliveries are refused.")

        django_request = request._request
        content_type = (django_request.content_type or "").lower()
        if content_type not in ACCEPTED_CONTENT_TYPES:
            hint = ""
            if content_type.startswith("multipart/"):
                hint = " Send the file's bytes as the body itself, not as a form field."
            return _error(
                415,
                f"Content type {content_type or '(none)'!r} is not accepted; send one of "
                f"{', '.join(sorted(ACCEPTED_CONTENT_TYPES))}.{hint}",
            )
        encoding = request.META.get("HTTP_CONTENT_ENCODING", "").strip().lower()
        if encoding not in ACCEPTED_CONTENT_ENCODINGS:
            return _error(415, f"Content-Encoding {encoding!r} is not accepted; send gzip or none.")
        max_body_bytes = settings.INGEST_MAX_BODY_BYTES
        try:
            declared_length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _error(400, "Content-Length is not a number.")
        if declared_length > max_body_bytes or (_spooled_body_size(django_request) or 0) > max_body_bytes:
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

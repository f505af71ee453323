"""Container CPU and memory samples: cAdvisor's Prometheus exposition (kubelet /metrics/cadvisor
or standalone cAdvisor /metrics), or JSON samples {time, container_id, cpu_cores, memory_bytes, ...}.

One `metric` event per container per sample time, with the families merged:
container_memory_working_set_bytes -> memory_bytes, and cpu_cores as the rate of
container_cpu_usage_seconds_total between two successive samples of the same
container in the stream (a single scrape has no rate: the counter stays in raw).
Cgroup aggregates (the root, /kubepods, pod cgroups, pause sandboxes) are not
containers and are skipped. Other metric families are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from .base import (
    Line,
    ParsedRecord,
    Parser,
    RecordError,
    RecordRejected,
    build_event,
    epoch_to_datetime,
    first,
    peek_first_text,
    to_float,
)

CPU_FAMILY = "container_cpu_usage_seconds_total"
MEMORY_FAMILY = "container_memory_working_set_bytes"
_FAMILIES = (CPU_FAMILY, MEMORY_FAMILY)

_SAMPLE_RE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+(?P<ts>-?\d+))?\s*$"
)
_LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*,?')
_CGROUP_ID_RE = re.compile(r"^(?:cri-containerd-|docker-|crio-|libpod-)?(?P<id>[0-9a-f]{12,64})(?:\.scope)?$")


def _unescape_label(value: str) -> str:
    return value.replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")


def parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _LABEL_RE.match(text, pos)
        if not match:
            raise RecordRejected(f"malformed label set at {text[pos : pos + 30]!r}")
        labels[match.group(1)] = _unescape_label(match.group(2))
        pos = match.end()
    return labels


def _container_identity(labels: dict[str, str]) -> dict[str, Any] | None:
    """Canonical container fields from cAdvisor labels, or None for a cgroup aggregate."""
    if "container" in labels:
        # kubelet: container="" marks pod cgroups, the node root and pause sandboxes.
        if not labels["container"]:
            return None
    elif not labels.get("name") and not labels.get("image"):
        return None  # standalone cAdvisor: the root and system slices carry no name/image
    cgroup = labels.get("id", "")
    last = cgroup.rstrip("/").rsplit("/", 1)[-1]
    match = _CGROUP_ID_RE.match(last)
    kubernetes = "container" in labels
    return {
        "container_id": match["id"] if match else (first(labels.get("name")) if kubernetes else None) or last or None,
        "container_name": first(
            labels.get("container"),
            labels.get("container_label_io_kubernetes_container_name"),
            None if kubernetes else labels.get("name"),
        ),
        "container_image": labels.get("image"),
        "pod": first(labels.get("pod"), labels.get("container_label_io_kubernetes_pod_name")),
        "namespace": first(labels.get("namespace"), labels.get("container_label_io_kubernetes_pod_namespace")),
        "cgroup": cgroup,
    }


class ContainerMetricsParser(Parser):
    format_name = "container_metrics"

    def __init__(self, field_map: dict[str, str] | None = None) -> None:
        super().__init__(field_map)
        # container key -> (time, cpu seconds counter) of its previous sample, for rates.
        self._previous_cpu: dict[str, tuple[datetime, float]] = {}

    def parse_lines(self, lines: Iterable[Line]) -> Iterator[ParsedRecord | RecordError]:
        first_text, lines = peek_first_text(lines)
        if first_text is not None and first_text.startswith(("{", "[")):
            yield from self.parse_json_lines(lines)
        else:
            yield from self._parse_exposition(lines)

    def convert(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        """The JSON form: {time, container_id, container_name, image, pod, namespace, cpu_cores, memory_bytes}."""
        if record.get("time") in (None, ""):
            raise RecordRejected("missing required field time")
        if not first(record.get("container_id"), record.get("container_name")):
            raise RecordRejected("missing required field container_id/container_name")
        return [
            build_event(
                time=record["time"],
                kind="metric",
                raw=record,
                action="sample",
                container_id=record.get("container_id"),
                container_name=record.get("container_name"),
                container_image=first(record.get("image"), record.get("container_image")),
                pod=record.get("pod"),
                namespace=record.get("namespace"),
                host=record.get("host"),
                cpu_cores=record.get("cpu_cores"),
                memory_bytes=record.get("memory_bytes"),
            )
        ]

    def _parse_exposition(self, lines: Iterable[Line]) -> Iterator[ParsedRecord | RecordError]:
        # (container key, timestamp ms or None) -> pending sample; flushed when the
        # container shows up again with a new time, and at the end (scrape order kept).
        pending: dict[tuple[str, int | None], dict[str, Any]] = {}
        latest_key: dict[str, tuple[str, int | None]] = {}
        scrape_time = datetime.now(tz=UTC)
        for line in lines:
            if line.text is None:
                yield RecordError(line.number, line.error or "unreadable line")
                continue
            text = line.text.strip()
            if not text or text.startswith("#"):
                continue
            name = text.split("{", 1)[0].split(None, 1)[0]
            if name not in _FAMILIES:
                continue
            match = _SAMPLE_RE.match(text)
            if not match:
                yield RecordError(line.number, "malformed Prometheus sample")
                continue
            try:
                labels = parse_labels(match["labels"] or "")
            except RecordRejected as exc:
                yield RecordError(line.number, str(exc))
                continue
            value = to_float(match["value"])
            if value is None:
                yield RecordError(line.number, f"non-numeric sample value {match['value']!r}")
                continue
            identity = _container_identity(labels)
            if identity is None:
                continue
            container_key = identity["cgroup"] or identity["container_id"] or ""
            timestamp_ms = int(match["ts"]) if match["ts"] else None
            key = (container_key, timestamp_ms)
            previous = latest_key.get(container_key)
            if previous is not None and previous != key and previous in pending:
                yield from self._finish(pending.pop(previous))
            latest_key[container_key] = key
            sample = pending.setdefault(
                key,
                {
                    "line": line.number,
                    "identity": identity,
                    "labels": labels,
                    "timestamp_ms": timestamp_ms,
                    "values": {},
                    "now": scrape_time,
                },
            )
            values = sample["values"]
            if name == CPU_FAMILY:
                # cpu="total" on kubelet; standalone cAdvisor may list per-cpu series to sum.
                if labels.get("cpu") in (None, "total"):
                    values[CPU_FAMILY] = value
                else:
                    values.setdefault("per_cpu", {})[labels["cpu"]] = value
            else:
                values[MEMORY_FAMILY] = value
        for sample in pending.values():
            yield from self._finish(sample)

    def _finish(self, sample: dict[str, Any]) -> Iterator[ParsedRecord | RecordError]:
        try:
            yield ParsedRecord(sample["line"], self._sample_event(sample))
        except Exception as exc:  # one bad sample must not stop the stream
            yield RecordError(sample["line"], f"{type(exc).__name__}: {exc}")

    def _sample_event(self, sample: dict[str, Any]) -> dict[str, Any]:
        identity, values = sample["identity"], sample["values"]
        if CPU_FAMILY not in values and values.get("per_cpu"):
            values[CPU_FAMILY] = sum(values["per_cpu"].values())
        timestamp_ms = sample["timestamp_ms"]
        # Without a sample timestamp the scrape time is the parse time; no rate is
        # computed then, since two parses of old text would give a made-up interval.
        time = epoch_to_datetime(timestamp_ms / 1000) if timestamp_ms is not None else sample["now"]
        cpu_cores = None
        container_key = identity["cgroup"] or identity["container_id"] or ""
        if CPU_FAMILY in values and timestamp_ms is not None:
            previous = self._previous_cpu.get(container_key)
            if previous is not None:
                seconds = (time - previous[0]).total_seconds()
                delta = values[CPU_FAMILY] - previous[1]
                if seconds > 0 and delta >= 0:  # a counter reset (restart) gives no rate
                    cpu_cores = delta / seconds
            self._previous_cpu[container_key] = (time, values[CPU_FAMILY])
        memory = values.get(MEMORY_FAMILY)
        raw = {
            "labels": sample["labels"],
            "timestamp_ms": timestamp_ms,
            "time": time.isoformat(),  # the scrape time when the sample had none
            "metrics": {k: v for k, v in values.items() if k in _FAMILIES},
        }
        if "per_cpu" in values:
            raw["per_cpu"] = values["per_cpu"]
        return build_event(
            time=time,
            kind="metric",
            raw=raw,
            action="sample",
            message=f"{identity['container_name'] or identity['container_id']}: "
            + ", ".join(f"{k}={v:g}" for k, v in raw["metrics"].items()),
            container_id=identity["container_id"],
            container_name=identity["container_name"],
            container_image=identity["container_image"],
            pod=identity["pod"],
            namespace=identity["namespace"],
            cpu_cores=cpu_cores,
            memory_bytes=int(memory) if memory is not None else None,
        )

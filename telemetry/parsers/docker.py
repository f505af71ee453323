"""Docker Engine events (`docker events --format '{{json .}}'`, /events) and `docker inspect` JSON.

Two Source formats share this module because they describe the same objects:
events say what happened to a container, inspect says how it is configured
(privileged, host network, published ports), which events never carry.
"""

from __future__ import annotations

from typing import Any

from .base import Parser, RecordRejected, build_event, dig, epoch_to_datetime, first, parse_time

# Docker writes this for a container that never started.
_ZERO_TIME = "0001-01-01T00:00:00Z"


class DockerEventsParser(Parser):
    format_name = "docker_events"

    def convert(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        # Current API: Type/Action/Actor; older daemons (and still the API) also send status/id/from.
        event_type = first(record.get("Type"), record.get("type"), "container")
        action = first(record.get("Action"), record.get("action"), record.get("status"))
        if not action:
            raise RecordRejected("missing required field Action/status (not a Docker event)")
        actor = record.get("Actor") if isinstance(record.get("Actor"), dict) else {}
        attributes = actor.get("Attributes") if isinstance(actor.get("Attributes"), dict) else {}
        actor_id = first(actor.get("ID"), record.get("id"))

        # "exec_start: sh -c id", "health_status: healthy": the verb, then a detail.
        verb, _, detail = str(action).partition(": ")
        if event_type == "container":
            container_id = actor_id
        else:  # network connect/disconnect name the container in Attributes
            container_id = attributes.get("container")
        name = attributes.get("name") if event_type == "container" else None
        image = first(attributes.get("image"), record.get("from")) if event_type == "container" else None
        return [
            build_event(
                time=_docker_event_time(record),
                kind="container",
                raw=record,
                action=verb,
                message=f"{event_type} {action} {name or actor_id or ''}".strip(),
                container_id=container_id,
                container_name=name,
                container_image=image,
                pod=attributes.get("io.kubernetes.pod.name"),
                namespace=attributes.get("io.kubernetes.pod.namespace"),
                process_command_line=detail if verb.startswith("exec_") and detail else None,
            )
        ]


def _docker_event_time(record: dict[str, Any]):
    seconds = record.get("time")
    nanos = record.get("timeNano")
    if isinstance(nanos, int) and isinstance(seconds, int) and nanos // 1_000_000_000 == seconds:
        return epoch_to_datetime(nanos)
    if seconds is not None:
        # timeNano that disagrees with time (docker/cli's golden file sets both to the same
        # small number) is not trusted: `time` is what every daemon fills correctly.
        return epoch_to_datetime(seconds) if isinstance(seconds, int | float) else parse_time(seconds)
    if isinstance(nanos, int):
        return epoch_to_datetime(nanos)
    raise RecordRejected("missing required field time/timeNano")


class DockerInspectParser(Parser):
    format_name = "docker_inspect"

    def convert(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        container_id = first(record.get("Id"), record.get("ID"))
        if not container_id:
            raise RecordRejected("missing required field Id (not docker inspect output)")
        host_config = record.get("HostConfig") if isinstance(record.get("HostConfig"), dict) else {}
        config = record.get("Config") if isinstance(record.get("Config"), dict) else {}
        state = record.get("State")
        labels = first(config.get("Labels"), record.get("Labels")) or {}

        # Full inspect: State is an object; the /containers/json list gives a string and epoch Created.
        started = state.get("StartedAt") if isinstance(state, dict) else None
        time_value = started if started and started != _ZERO_TIME else record.get("Created")
        if time_value is None:
            raise RecordRejected("missing required field State.StartedAt/Created")
        status = state.get("Status") if isinstance(state, dict) else state

        name = record.get("Name")
        if not name and isinstance(record.get("Names"), list) and record["Names"]:
            name = record["Names"][0]
        name = name.lstrip("/") if isinstance(name, str) else None
        image = first(config.get("Image"), record.get("Image"))
        path = record.get("Path")
        args = record.get("Args") if isinstance(record.get("Args"), list) else []
        command_line = " ".join(str(part) for part in [path, *args] if part) if path else record.get("Command")
        network_mode = host_config.get("NetworkMode")
        return [
            build_event(
                time=time_value,
                kind="container",
                raw=record,
                action="inspect",
                message=f"{name or container_id} {image or ''} {status or ''}".strip(),
                container_id=container_id,
                container_name=name,
                container_image=image,
                pod=labels.get("io.kubernetes.pod.name") if isinstance(labels, dict) else None,
                namespace=labels.get("io.kubernetes.pod.namespace") if isinstance(labels, dict) else None,
                privileged=host_config.get("Privileged"),
                host_network=(network_mode == "host") if network_mode else None,
                process_image=path,
                process_command_line=command_line,
                process_pid=dig(state, "Pid") if isinstance(state, dict) and dig(state, "Pid") else None,
                dst_port=_first_host_port(record),
            )
        ]


def _first_host_port(record: dict[str, Any]) -> int | None:
    """The first port published on the host (lowest container port first), or None.

    A published port is where traffic from outside reaches the container, so it is a
    destination port; every binding stays in raw (HostConfig.PortBindings).
    """
    bindings = dig(record, "HostConfig.PortBindings") or dig(record, "NetworkSettings.Ports")
    if isinstance(bindings, dict):
        for container_port in sorted(
            bindings, key=lambda key: (int(key.split("/")[0]) if key.split("/")[0].isdigit() else 0, key)
        ):
            for binding in bindings[container_port] or []:
                if isinstance(binding, dict) and str(binding.get("HostPort") or "").isdigit():
                    return int(binding["HostPort"])
    ports = record.get("Ports")
    if isinstance(ports, list):
        public = sorted(
            p.get("PublicPort") for p in ports if isinstance(p, dict) and isinstance(p.get("PublicPort"), int)
        )
        if public:
            return public[0]
    return None

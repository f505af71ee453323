"""Falco alerts (`json_output: true`, and the same JSON as posted by http_output / falcosidekick).

An alert is another engine's verdict plus the context Falco captured in
`output_fields` (dotted Falco field names as flat keys). We lift that context
into the canonical columns so our own rules can correlate on it; the alert's
rule name becomes `action`. Not for re-evaluating Falco rules.
"""

from __future__ import annotations

from typing import Any

from .base import Parser, RecordRejected, build_event, first

# Falco's event types that start a program: an alert on one of these is a process event.
_EXEC_TYPES = frozenset({"execve", "execveat"})


class FalcoParser(Parser):
    format_name = "falco"

    def convert(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        rule = record.get("rule")
        if not rule:
            raise RecordRejected("missing required field rule (not a Falco alert)")
        fields = record.get("output_fields") if isinstance(record.get("output_fields"), dict) else {}
        time_value = first(record.get("time"), fields.get("evt.time"), fields.get("evt.time.iso8601"))
        if time_value is None:
            raise RecordRejected("missing required field time")

        command_line = fields.get("proc.cmdline")
        event_type = fields.get("evt.type")
        # A syscall alert that carries a command line is a process event only when the
        # syscall started a program (execve); "cat /etc/shadow" opening a file stays an
        # alert with process context, so process-creation rules do not see it twice.
        is_process = command_line is not None and (event_type is None or event_type in _EXEC_TYPES)

        repository = fields.get("container.image.repository")
        tag = fields.get("container.image.tag")
        image = f"{repository}:{tag}" if repository and tag else first(repository, fields.get("container.image"))
        container_id = fields.get("container.id")
        if container_id == "host":  # Falco's marker for events outside any container
            container_id = None

        resource = fields.get("ka.target.resource")
        k8s_name = fields.get("ka.target.name")
        return [
            build_event(
                time=time_value,
                kind="process" if is_process else "alert",
                raw=record,
                action=rule,
                message=record.get("output"),
                host=record.get("hostname"),
                container_id=container_id,
                container_name=fields.get("container.name") if container_id else None,
                container_image=image if container_id else None,
                pod=first(fields.get("k8s.pod.name"), k8s_name if resource == "pods" else None),
                namespace=first(fields.get("k8s.ns.name"), fields.get("ka.target.namespace")),
                process_image=first(fields.get("proc.exepath"), fields.get("proc.exe"), fields.get("proc.name")),
                process_command_line=command_line,
                process_parent_image=first(
                    fields.get("proc.pexepath"), fields.get("proc.pexe"), fields.get("proc.pname")
                ),
                process_parent_command_line=fields.get("proc.pcmdline"),
                process_user=fields.get("user.name"),
                process_pid=fields.get("proc.pid"),
                # Falco names the ends of a connection client/server (fd.cip/fd.sip) and
                # local/remote (fd.lip/fd.rip); client -> server is source -> destination.
                src_ip=first(fields.get("fd.cip"), fields.get("fd.lip")),
                src_port=first(fields.get("fd.cport"), fields.get("fd.lport")),
                dst_ip=first(fields.get("fd.sip"), fields.get("fd.rip"), fields.get("fd.dip")),
                dst_port=first(fields.get("fd.sport"), fields.get("fd.rport"), fields.get("fd.dport")),
                protocol=str(fields["fd.l4proto"]).lower() if fields.get("fd.l4proto") else None,
                k8s_user=fields.get("ka.user.name"),
                k8s_verb=fields.get("ka.verb"),
                k8s_resource=resource,
                k8s_subresource=fields.get("ka.target.subresource"),
                k8s_object_name=k8s_name,
            )
        ]

"""Validate docker-compose.yml: with Debian's `docker-compose config` when installed, plus our own checks.

Our checks make sure the production stack keeps what it promises (five services, health
checks, named volumes) whatever parser is available.
"""

import os
import shutil
import subprocess
import sys

import yaml

REQUIRED_SERVICES = {"postgres", "redis", "web", "worker", "beat"}


def main(path: str) -> int:
    errors = []
    if not shutil.which("docker-compose") and os.environ.get("CI") == "true":
        # In CI the file must pass a real Compose parser, not only our structure checks.
        errors.append("docker-compose is not installed (.ci/run installs Debian's package)")
    if shutil.which("docker-compose"):
        result = subprocess.run(["docker-compose", "-f", path, "config", "-q"], capture_output=True, text=True)
        if result.returncode != 0:
            errors.append(f"docker-compose config: {result.stderr.strip()}")
    with open(path, encoding="utf-8") as handle:
        spec = yaml.safe_load(handle)
    services = spec.get("services") or {}
    missing = REQUIRED_SERVICES - set(services)
    if missing:
        errors.append(f"missing services: {', '.join(sorted(missing))}")
    for name, service in services.items():
        if "healthcheck" not in service:
            errors.append(f"service {name} has no healthcheck")
    named_volumes = set(spec.get("volumes") or {})
    for needed in ("pgdata", "redisdata"):
        if needed not in named_volumes:
            errors.append(f"named volume {needed} is not declared")
    for error in errors:
        print(f"{path}: {error}", file=sys.stderr)
    if not errors:
        parser = "docker-compose config and structure checks" if shutil.which("docker-compose") else "structure checks"
        print(f"{path}: valid ({parser})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docker-compose.yml"))

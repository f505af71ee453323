"""Exit 0 when PostgreSQL and Redis both answer, 1 when neither does, 2 when only one does.

Prints what is missing. `make test` runs the PostgreSQL + Redis half on 0, skips it with a message
on 1 (a machine without the services), and fails on 2 (a half-configured machine is a mistake);
with CI=true anything but 0 fails.
"""

import socket
import sys
from urllib.parse import urlparse


def answers(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2):
            return True
    except OSError:
        return False


def main() -> int:
    pg_url, redis_url = sys.argv[1], sys.argv[2]
    pg_ok, redis_ok = answers(pg_url, 5432), answers(redis_url, 6379)
    if not pg_ok:
        print(f"PostgreSQL is not answering at {pg_url}", file=sys.stderr)
    if not redis_ok:
        print(f"Redis is not answering at {redis_url}", file=sys.stderr)
    if pg_ok and redis_ok:
        return 0
    return 2 if pg_ok or redis_ok else 1


if __name__ == "__main__":
    sys.exit(main())

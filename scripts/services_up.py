"""Exit 0 when both PostgreSQL and Redis answer at the given URLs, 1 otherwise (used by `make test`).

Prints what is missing. Used to decide whether the PostgreSQL + Redis half of the suite runs:
with CI=true, the Makefile turns a missing service into a failure.
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
    return 0 if pg_ok and redis_ok else 1


if __name__ == "__main__":
    sys.exit(main())

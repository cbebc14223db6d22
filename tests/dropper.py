"""``python -m tests.dropper URL...``: drop the test session's PostgreSQL databases
left when it ended (see :func:`tests.support.hand_over_drops`), one after the other,
waiting while the server has no connection to spare. Runs on after pytest has exited."""

from __future__ import annotations

import sys

from tests.support import _drop_now


def main(urls: list[str]) -> int:
    failed = 0
    for url in urls:
        try:
            _drop_now(url)
        except Exception as exc:  # the others are still dropped; the log says which failed
            failed += 1
            print(f"tests.dropper: {url.rsplit('/', 1)[-1]}: {exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

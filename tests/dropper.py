"""``python -m tests.dropper URL...``: drop the test session's PostgreSQL databases
left when it ended (see :func:`tests.support.hand_over_drops`), several at once (they
share the checkpoints a drop waits for), waiting while the server has no connection to
spare. Runs on after pytest has exited."""

from __future__ import annotations

import concurrent.futures
import sys

from tests.support import DROPS_AT_ONCE, _drop_now


def main(urls: list[str]) -> int:
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=DROPS_AT_ONCE) as pool:
        futures = {pool.submit(_drop_now, url): url for url in urls}
        for future in concurrent.futures.as_completed(futures):
            try:
                future.result()
            except Exception as exc:  # the others are still dropped; the log says which failed
                failed += 1
                print(f"tests.dropper: {futures[future].rsplit('/', 1)[-1]}: {exc}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

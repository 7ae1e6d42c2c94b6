#!/usr/bin/env python3
"""A bounded load generator: LAB_RPS requests per second (default 4) to the
frontend, alternating /checkout and /browse, for at most LAB_LOAD_MAX_S seconds
(default 4 hours). Standard library only.
"""

import os
import threading
import time
import urllib.error
import urllib.request

RPS = float(os.environ.get("LAB_RPS", "4"))
MAX_S = float(os.environ.get("LAB_LOAD_MAX_S", str(4 * 3600)))
ROUTES = ["/checkout", "/browse"]


def hit(path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:18081{path}", timeout=5) as r:
            r.read()
    except (urllib.error.URLError, OSError):
        pass


def main():
    start = time.time()
    n = 0
    while time.time() - start < MAX_S:
        # At most 32 requests in flight, so a stalled stack is not buried under threads.
        if threading.active_count() < 32:
            threading.Thread(target=hit, args=(ROUTES[n % 2],), daemon=True).start()
        n += 1
        time.sleep(1.0 / RPS)


if __name__ == "__main__":
    main()

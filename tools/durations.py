"""Write ``tests/durations.json`` from a test run's JUnit XML: the tests that took at
least ``--over`` seconds under the suite's load, by node id. The suite runs them first
(``tests/conftest.py``), longest first, so that four workers share them at the start
instead of one ending the run alone on a long one.

Example: python tools/durations.py /tmp/junit.xml   (after make test PYTEST_ARGS=--junitxml=/tmp/junit.xml)
"""

from __future__ import annotations

import argparse
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("junit", type=Path, help="the run's --junitxml file")
    parser.add_argument("--over", type=float, default=8.0, help="seconds (default 8)")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "durations.json")
    args = parser.parse_args()
    try:
        cases = list(ET.parse(args.junit).iter("testcase"))
    except (OSError, ET.ParseError) as exc:
        print(f"{args.junit}: not a JUnit XML file ({exc})", file=sys.stderr)
        return 2
    slow: dict[str, float] = {}
    for case in cases:
        seconds = float(case.get("time") or 0)
        if seconds >= args.over:
            module = (case.get("classname") or "").replace(".", "/") + ".py"
            slow[f"{module}::{case.get('name')}"] = round(seconds, 1)
    ordered = dict(sorted(slow.items(), key=lambda kv: -kv[1]))
    args.out.write_text(json.dumps(ordered, indent=1) + "\n")
    print(f"{len(ordered)} of {len(cases)} tests took {args.over:g} s or more: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

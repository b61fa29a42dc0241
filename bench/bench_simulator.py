"""Scripted customers on the second demo shop (shops/sport), through the real servers; printed, never asserted.

Each customer of tests/simulator/customers.yml writes to its own WhatsApp chat through the sandbox's webhook path;
the order the bot posted to the managers' group is compared field by field with the expected one. Prints one row
per customer (outcome, confirmation, fields that differ) and the totals. Needs RASA_MODEL (scripts/bench.sh sets
it). SIMULATOR_TRANSCRIPTS=1 also prints the transcript of every customer that did not end correctly.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from devstack.simulator import CORRECT, load_customers, run_customers, shop_stack, table  # noqa: E402


def main() -> None:
    model = os.environ["RASA_MODEL"]
    customers = load_customers()
    concurrency = int(os.environ.get("SIMULATOR_CONCURRENCY", "5"))
    with tempfile.TemporaryDirectory() as tmp, shop_stack(Path(tmp), model) as stack:
        started = time.monotonic()
        outcomes = run_customers(stack, customers, concurrency=concurrency)
        elapsed = time.monotonic() - started
    print(table(outcomes))
    print(f"{len(customers)} customers, {concurrency} at once, {elapsed:.0f} s")
    if os.environ.get("SIMULATOR_TRANSCRIPTS") == "1":
        for outcome in outcomes:
            if outcome.outcome != CORRECT:
                print(outcome.describe())


if __name__ == "__main__":
    main()

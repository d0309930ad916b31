"""Benchmark: client CPU of one BatchWriteItem on mcpstore's lean path and through boto3.

Run by hand (not by pytest)::

    python bench/bench_dynamodb_calls.py [--calls 2000]

Starts a DynamoDB Local of its own, creates a table pair with ``mcpstore setup`` and sends the
same BatchWriteItem to the events table (25 deletes of keys that do not exist, so the table
stays empty and every call does the same work) ``--calls`` times through the store's lean
path and through the boto3 client (the store takes the client's path when a proxy is
configured, so the second store is opened with ``HTTPS_PROXY`` set). Compared is the CPU time
of this process per call, the figure the README quotes; wall time per call is printed as
well. Both sides take turns going first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TABLE = "bench-calls"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(store: Any, request: dict[str, Any], calls: int) -> tuple[float, float]:
    for _ in range(100):  # warm up: connections, the signing key, the client's models
        store._batch_write_item(request)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        store._batch_write_item(request)
    return (time.process_time() - cpu) / calls, (time.perf_counter() - wall) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from bench_expire import _dynamo_local, _dynamo_setup

    from mcpstore_cli.store import open_store
    from mcpstore_cli.store.base import StoreOptions
    from mcpstore_cli.store.urls import parse_store_url
    from tests.dynamodb_fixtures import DYNAMO_ENV

    server = _dynamo_local()
    try:
        store_url, _env = _dynamo_setup(server.endpoint, TABLE)
        keys = [{"sessionId": {"S": f"{i:032x}"}, "eventId": {"N": str(i)}} for i in range(25)]
        request = {f"{TABLE}-events": [{"DeleteRequest": {"Key": key}} for key in keys]}
        url = parse_store_url(store_url)
        stores = {
            "lean path": open_store(url, StoreOptions(environ=DYNAMO_ENV)),
            "boto3 client": open_store(
                url, StoreOptions(environ={**DYNAMO_ENV, "HTTPS_PROXY": "http://127.0.0.1:9"})
            ),
        }
        if stores["lean path"]._bulk_wire() is None or stores["boto3 client"]._bulk_wire():
            raise SystemExit("the stores did not take the paths this bench compares")
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in stores}
        names = list(stores)
        for round_no in range(args.rounds):
            for name in names if round_no % 2 == 0 else names[::-1]:
                results[name].append(measure(stores[name], request, args.calls))
        for store in stores.values():
            asyncio.run(store.close())
    finally:
        server.stop()

    lean_cpu = statistics.median(r[0] for r in results["lean path"])
    boto_cpu = statistics.median(r[0] for r in results["boto3 client"])
    lean_wall = statistics.median(r[1] for r in results["lean path"])
    boto_wall = statistics.median(r[1] for r in results["boto3 client"])
    print(f"\nload average {load()} on {os.cpu_count()} cores; {args.calls} calls per round")
    print(f"{'measure':44} {'mcpstore':>10} {'baseline':>10} {'ratio':>7}  notes")
    print(
        f"{'client CPU per BatchWriteItem (25 deletes)':44} {lean_cpu * 1000:8.3f}ms "
        f"{boto_cpu * 1000:8.3f}ms {lean_cpu / boto_cpu:6.2f}x  lean path vs boto3 client, "
        f"median of {args.rounds}"
    )
    print(
        f"{'wall time per call, one thread':44} {lean_wall * 1000:8.3f}ms "
        f"{boto_wall * 1000:8.3f}ms {lean_wall / boto_wall:6.2f}x  includes DynamoDB Local's work"
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()

"""A separate process that stores events as a server does, for the tail-events tests and the
benchmark: ``python -m tests.tail_writer --url URL --session ID --count N --interval S``.

It writes through the server writers of :mod:`tests.server_writers` (the server's own
statements), prints ``<seq> <id> <unix ms after commit>`` for each stored event, and with
``--reconnect`` survives a restarting server the way a server does (reconnects and goes on).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

TYPES = ["notifications/progress", "notifications/message", "ping", "notifications/progress"]


def make_writer(url: str) -> Any:
    if url.startswith("sqlite:///"):
        from tests.server_writers import SqliteServerWriter

        return SqliteServerWriter(url[len("sqlite:///") :])
    if url.startswith(("postgresql://", "postgres://")):
        from tests.pg_fixtures import PgServerWriter

        return PgServerWriter(url)
    if url.startswith("dynamodb://"):
        from tests.dynamodb_fixtures import DynamoServerWriter

        parts = urlsplit(url)
        endpoint = parse_qs(parts.query)["endpoint"][0]
        return DynamoServerWriter(endpoint, parts.netloc)
    raise SystemExit(f"tail_writer: unknown store URL {url}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--session", action="append", required=True)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--start", type=int, default=0, help="first seq number")
    parser.add_argument("--create-session", action="store_true")
    parser.add_argument("--reconnect", action="store_true")
    args = parser.parse_args(argv)

    writer = make_writer(args.url)
    now = int(time.time() * 1000)
    if args.create_session:
        for sid in args.session:
            writer.session(
                sid,
                created_at=now,
                last_activity=now,
                server_capabilities={"tools": {}},
                state={"client_info": {"name": "tail-writer", "version": "1"}},
            )
    seq = args.start
    end = args.start + args.count
    while seq < end:
        sid = args.session[seq % len(args.session)]
        try:
            new_id = writer.event(
                sid,
                timestamp=int(time.time() * 1000),
                event_type=TYPES[seq % len(TYPES)],
                data={"jsonrpc": "2.0", "method": "notifications/progress", "params": {"seq": seq}},
                retry=3000 if seq % 5 == 4 else None,
            )
        except Exception as exc:
            if not args.reconnect:
                raise
            print(f"writer: {type(exc).__name__}; reconnecting", file=sys.stderr, flush=True)
            time.sleep(0.2)
            with contextlib.suppress(Exception):
                writer.close()
            while True:
                try:
                    writer = make_writer(args.url)
                    break
                except Exception:
                    time.sleep(0.2)
            continue
        print(f"{seq} {new_id} {int(time.time() * 1000)}", flush=True)
        seq += 1
        if args.interval:
            time.sleep(args.interval)
    writer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

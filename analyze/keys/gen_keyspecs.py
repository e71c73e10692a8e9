"""Regenerate `data/commands-redis-7.0.json`: the raw `COMMAND` reply of a real redis-server.

    uv run python -m hotshard.analyze.keys.gen_keyspecs                # starts a throwaway local redis-server
    uv run python -m hotshard.analyze.keys.gen_keyspecs --url redis://host:6379 --out other.json

The reply is read with RESP2 and no redis-py parsing, JSON-ified with `hotshard.capture.format.manifest.jsonable`
— the same format capture saves as `commands.json` — and sorted by command name so the committed
file diffs cleanly.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from hotshard.analyze.keys.keyspecs import BUILTIN
from hotshard.capture.format.manifest import jsonable


def command_reply(client: redis.Redis) -> list[Any]:
    client.set_response_callback("COMMAND", lambda resp, **kw: resp)
    return jsonable(client.execute_command("COMMAND"))


def _sorted(reply: list[Any]) -> list[Any]:
    out = []
    for entry in sorted(reply, key=lambda e: e[0]):
        if len(entry) > 9 and entry[9]:
            entry = [*entry[:9], sorted(entry[9], key=lambda e: e[0]), *entry[10:]]
        out.append(entry)
    return out


def _local_reply() -> list[Any]:
    server = shutil.which("redis-server")
    if not server:
        raise SystemExit(
            "redis-server not found: install it (apt install redis-server) or pass --url"
        )
    with tempfile.TemporaryDirectory() as folder:
        sock = Path(folder) / "redis.sock"
        proc = subprocess.Popen(
            [server, "--port", "0", "--unixsocket", str(sock), "--save", "", "--dir", folder],
            stdout=subprocess.DEVNULL,
        )
        try:
            for _ in range(200):
                if sock.exists():
                    break
                time.sleep(0.05)
            client = redis.Redis(unix_socket_path=str(sock), protocol=2)
            print(f"redis-server {client.info('server')['redis_version']}")
            return command_reply(client)
        finally:
            proc.terminate()
            proc.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="redis://host:port of the server to ask (default: start one)")
    parser.add_argument("--out", type=Path, default=BUILTIN)
    args = parser.parse_args()
    if args.url:
        reply = command_reply(redis.Redis.from_url(args.url, protocol=2))
    else:
        reply = _local_reply()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(_sorted(reply), separators=(",", ":")) + "\n")
    print(f"wrote {args.out} ({len(reply)} commands)")


if __name__ == "__main__":
    main()

"""Profile the API server under the HTTP benchmark load (cProfile, the server's main thread).

    .venv/bin/python bench/profile_http.py [--events 5000] [--concurrency 8] [--top 40] [--bare]

Starts ``lendguard.asgi:app`` (or the bare app with ``--bare``) under uvicorn inside a profiled
process, drives it with the benchmark's own client, stops it, and prints where the server's main
thread spent its time. Work that FastAPI sends to its thread pool (sync dependencies and sync
endpoints) is not in this profile: it shows up as time the event loop waited.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def serve(port: int, out: Path, bare: bool) -> None:
    import uvicorn

    if bare:
        from lendguard.simulate.benchmark import create_bare_app

        app = create_bare_app()
    else:
        from lendguard.app import create_app, tune_for_serving

        app = create_app()
        tune_for_serving()  # as lendguard.asgi does
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    profile = cProfile.Profile()
    profile.enable()
    try:
        server.run()
    finally:
        profile.disable()
        profile.dump_stats(str(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--bare", action="store_true", help="profile the bare app instead")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.profile_out, args.bare)
        return

    from lendguard.simulate import benchmark as b

    workload = b.build_workload(args.events, args.seed)
    with tempfile.TemporaryDirectory(prefix="lendguard-profile-http-") as tmp:
        workdir = Path(tmp)
        bodies_path = workdir / "bodies.json"
        bodies_path.write_bytes(b.orjson.dumps([x.decode() for x in workload.bodies()]))
        port = b._free_port()
        key = "lg_bench_" + secrets.token_urlsafe(24)
        env = b._child_env(
            {
                "LENDGUARD_DATABASE_URL": f"sqlite:///{workdir / 'http.db'}",
                "LENDGUARD_BOOTSTRAP_ADMIN_KEY": key,
                "LENDGUARD_LOG_LEVEL": "WARNING",
            }
        )
        prof = workdir / "server.prof"
        log_path = workdir / "server.log"
        cmd = [sys.executable, str(HERE), "--serve", str(port), "--profile-out", str(prof)]
        if args.bare:
            cmd.append("--bare")
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=log)
        server = b._Server(proc, port, log_path)
        try:
            deadline = time.monotonic() + 90
            while True:
                try:
                    if b._http_get_status(port, "/healthz") == 200:
                        break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"server did not start: {server.log_tail()}")
                time.sleep(0.1)
            figures = b._drive(
                server,
                bodies_path,
                workdir,
                key=None if args.bare else key,
                client="raw",
                concurrency=args.concurrency,
                time_limit_s=300,
                requests=len(workload.dicts),
                progress=None,
            )
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=60)
        print(
            f"{'bare app' if args.bare else 'lendguard.asgi:app'} under cProfile: "
            f"{figures['events_per_s']:,.0f} req/s, p50 {figures['p50_us']:,.0f} µs, "
            f"statuses {figures['statuses']}\n"
        )
        stats = pstats.Stats(str(prof))
        stats.sort_stats("tottime").print_stats(args.top)
        stats.sort_stats("cumulative").print_stats(args.top)
    os.environ.pop("LENDGUARD_DATABASE_URL", None)


if __name__ == "__main__":
    main()

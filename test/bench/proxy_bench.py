#!/usr/bin/env python3
"""scripts/bench proxy: Dovecot's proxy, nginx's mail proxy and postern-proxy
in front of the same two postern-nodes and slapd, side by side, with socat as
the plain-relay reference. Run through scripts/bench, which installs the
packages and builds what is needed; see README.md "Benchmarks".

    proxy_bench.py --build DIR [--users N] [--seconds S] [--clients C]
                   [--idle N] [--messages M] [--fetches F] [--quick] [--uncached]
                   [--max-load L]
                   [--only dovecot,nginx,postern,socat] [--out FILE] [--keep]

Per proxy, in one run, on loopback:
  IMAP / POP3 logins/s   C clients (default 50) looping connect, login,
                         logout for S seconds, users taken round-robin from
                         N (default 500) distinct bench users; and logins
                         per CPU-second of every process of the proxy
  FETCH                  UID FETCH 1 BODY[] of a 10 MB message: MB/s and
                         the proxy's CPU-seconds per GB (socat alongside)
  idle memory            resident memory per logged-in idle IMAP connection,
                         2,000 held (the proxy's RSS held minus before)
  SMTP                   smtp-source messages/s through the proxy
and the generator's own ceiling against its instant-reply stub.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from imap_bench_servers import free_port  # noqa: E402
from proxy_bench_cluster import FETCH_PASSWORD, FETCH_USER, Cluster  # noqa: E402
from proxy_bench_measure import Loadgen, direct, fetch, idle_memory, logins, smtp  # noqa: E402
from proxy_bench_proxies import DovecotProxy, NginxProxy, PosternProxy, SocatRelay, \
    remove  # noqa: E402
from proxy_bench_report import print_report  # noqa: E402
from smtp_bench import settle  # noqa: E402

# nginx-64k: nginx again with proxy_buffer 64k (its default is one page),
# for FETCH only, as the orientation figure was taken.
SYSTEMS = ("dovecot", "nginx", "nginx-64k", "postern", "socat")
FETCH_ONLY = ("nginx-64k", "socat")


def ceiling(loadgen, clients, seconds):
    """The generator against its stub: logins/s and its own CPU per login."""
    imap_port, pop3_port = free_port(), free_port()
    stub = subprocess.Popen([loadgen.binary, "stub", "--imap", f"127.0.0.1:{imap_port}",
                             "--pop3", f"127.0.0.1:{pop3_port}"], stdout=subprocess.PIPE,
                            text=True)
    try:
        stub.stdout.readline()
        out = {}
        for protocol, port in (("imap", imap_port), ("pop3", pop3_port)):
            r, cpu = loadgen.logins(protocol, port, clients, seconds)
            out[protocol] = {"value": r["logins_per_second"], "errors": r["error_count"],
                             "loadgen_cpu_us_per_login": cpu / max(1, r["logins"]) * 1e6}
        return out
    finally:
        stub.terminate()
        stub.wait()


def measure_proxy(name, proxy, cluster, loadgen, args):
    """Every figure the proxy has; a figure that fails is recorded and the
    others still run."""
    figures, errors = {}, {}
    steps = [("imap_logins", lambda: logins(loadgen, proxy, cluster, "imap", args.clients,
                                            args.seconds)),
             ("pop3_logins", lambda: logins(loadgen, proxy, cluster, "pop3", args.clients,
                                            args.seconds)),
             ("fetch", lambda: fetch(loadgen, proxy, cluster, FETCH_USER, FETCH_PASSWORD,
                                     args.fetches)),
             ("idle_kib", lambda: idle_memory(loadgen, proxy, args.idle)),
             ("smtp", lambda: smtp(proxy, cluster, args.messages))]
    needs = {"imap_logins": "imap", "pop3_logins": "pop3", "fetch": "imap", "idle_kib": "imap",
             "smtp": "smtp"}
    for key, step in steps:
        if needs[key] not in proxy.services or (name in FETCH_ONLY and key != "fetch"):
            continue
        try:
            figures[key] = step()
        except Exception as e:  # one figure failing must not lose the others
            errors[key] = str(e)
            print(f"proxy bench: {name} {key}: {e}", file=sys.stderr, flush=True)
    return figures, errors


def run_proxy(name, proxy, cluster, loadgen, args):
    settle(args.max_load)
    try:
        proxy.start()
    except Exception as e:
        return {"error": f"did not start: {e}\n{proxy.log()}"}
    try:
        load = os.getloadavg()
        print(f"  {name}: started; load average {load[0]:.2f}", file=sys.stderr, flush=True)
        # Warm-up (not measured): login processes forked, caches and pools filled.
        if name not in FETCH_ONLY:
            loadgen.logins("imap", proxy.ports["imap"], args.clients, 1)
        figures, errors = measure_proxy(name, proxy, cluster, loadgen, args)
        result = {"figures": figures, "versions": proxy.version(), "load_average_before": load}
        if errors:
            result["figure_errors"] = errors
            result["log"] = proxy.log()[-3000:]
        return result
    finally:
        proxy.stop()


def make_proxy(name, base, cluster, build, cache):
    if name == "dovecot":
        return DovecotProxy(base, cluster, cache)
    if name == "nginx":
        return NginxProxy(base, cluster, cache=cache)
    if name == "nginx-64k":
        return NginxProxy(base, cluster, buffer="64k", cache=cache)
    if name == "socat":
        return SocatRelay(base, cluster)
    return PosternProxy(base, cluster, build, cache)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--users", type=int, default=500, help="bench users (default 500)")
    ap.add_argument("--seconds", type=float, help="per login figure (default 10; --quick 3)")
    ap.add_argument("--clients", type=int, default=50, help="concurrent login loops")
    ap.add_argument("--idle", type=int, default=2000, help="idle connections held")
    ap.add_argument("--messages", type=int, help="SMTP messages (default 2000; --quick 500)")
    ap.add_argument("--fetches", type=int, help="timed FETCHes of the 10 MB message (default 50; "
                    "--quick 20)")
    ap.add_argument("--loadgen-threads", type=int, default=1,
                    help="the generator's epoll threads (default 1)")
    ap.add_argument("--uncached", action="store_true",
                    help="no proxy caches verified logins (Dovecot's auth cache, the nginx auth "
                         "service's, Postern's mapping cache): every login binds at slapd")
    ap.add_argument("--max-load", type=float, default=0,
                    help="before each proxy, wait (at most 4 minutes) for the load average to "
                         "fall below this (default 0: do not wait)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=",".join(SYSTEMS),
                    help="comma-separated subset of " + ",".join(SYSTEMS))
    ap.add_argument("--out", default="test-artifacts/bench-proxy.json")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    args.seconds = args.seconds or (3 if args.quick else 10)
    args.messages = args.messages or (500 if args.quick else 2000)
    args.fetches = args.fetches or (20 if args.quick else 50)
    only = [s for s in SYSTEMS if s in args.only.split(",")]
    build = os.path.abspath(args.build)
    load = os.getloadavg()
    print(f"proxy bench: {args.users} users, {args.clients} clients, {args.seconds:g} s per "
          f"login figure, {args.idle} idle connections; load average {load[0]:.2f}, "
          f"{os.cpu_count()} cores", file=sys.stderr, flush=True)

    base = tempfile.mkdtemp(prefix="postern-bench-proxy-")
    results, stub, nodes = {}, None, None
    cluster = Cluster(base, build, args.users)
    users_file = os.path.join(base, "users.txt")
    with open(users_file, "w") as f:
        f.writelines(f"{login} {password}\n" for login, password, _ in cluster.users)
    loadgen = Loadgen(os.path.join(build, "test", "bench", "loadgen", "loadgen"), users_file,
                      args.loadgen_threads)
    try:
        stub = ceiling(loadgen, args.clients, args.seconds)
        print(f"  loadgen ceiling: {stub['imap']['value']:,.0f} IMAP logins/s", file=sys.stderr)
        cluster.start()
        nodes = direct(loadgen, cluster, args.clients, args.seconds, base)
        print(f"  nodes directly: {nodes['value']:,.0f} IMAP logins/s", file=sys.stderr)
        for name in only:
            proxy = make_proxy(name, base, cluster, build, not args.uncached)
            if name == "postern" and not os.path.exists(proxy.binary):
                results[name] = {"skipped": f"not measured: {proxy.binary} is not built"}
                print(f"  postern: skipped, {proxy.binary} is not built", file=sys.stderr)
                continue
            results[name] = run_proxy(name, proxy, cluster, loadgen, args)
            if not args.keep:
                remove(proxy)
    finally:
        cluster.stop()
        if args.keep:
            print(f"proxy bench: kept {base}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", base])

    print_report(results, only, stub, nodes, args)
    report = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": {"cores": os.cpu_count(), "load_average": load,
                          "kernel": platform.release()},
              "options": vars(args), "loadgen_ceiling": stub, "nodes_direct": nodes,
              "systems": results}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\n(JSON: {args.out})")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

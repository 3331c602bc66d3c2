#!/usr/bin/env python3
"""scripts/bench imap: Dovecot (Maildir and sdbox) and postern-node on the same
generated mailbox, side by side. Run through scripts/bench, which installs
Dovecot and builds what is needed; see README.md "Benchmarks".

    imap_bench.py --build DIR [--messages N] [--quick] [--only postern|dovecot]
                  [--out FILE] [--keep] [--max-load L]

Measures, per server, with the server's CPU time (user + system of all its
processes) for each figure:
  select_fetch   SELECT INBOX + FETCH 1:* (UID FLAGS RFC822.SIZE), seconds
  fetch_big      FETCH 1 BODY.PEEK[] of one ~10 MB message, MB/s
  append_1       APPEND of ~10 KB messages, one client, one at a time, msgs/s
  append_10      the same count split over 10 clients in parallel, msgs/s
  search_text    SEARCH TEXT <word in 1% of bodies> over 10,000 messages, s
  search_subject SEARCH SUBJECT <word in 1% of subjects>, s
Timed figures are warm: one untimed run, then the best of 3 (APPEND: one run
each, into empty mailboxes). Logins, SELECTs of other mailboxes and population
are never timed.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from imap_bench_client import Imap, literal_size, search_hits  # noqa: E402
import imap_bench_data as data  # noqa: E402
from imap_bench_servers import USER, PASSWORD, Dovecot, Postern, remove  # noqa: E402

# (key, label, unit, higher is better)
FIGURES = [
    ("select_fetch", "SELECT INBOX + FETCH 1:* (UID FLAGS RFC822.SIZE)", "s", False),
    ("fetch_big", "FETCH BODY.PEEK[] of the big message", "MB/s", True),
    ("append_1", "APPEND, 1 client", "msgs/s", True),
    ("append_10", "APPEND, 10 clients", "msgs/s", True),
    ("search_text", "SEARCH TEXT", "s", False),
    ("search_subject", "SEARCH SUBJECT", "s", False),
]
RUNS = 3
CLIENTS = 10


def client_cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def connect(server):
    return Imap(server.port).login(USER, PASSWORD)


def best_of(server, step):
    """step() -> checked details; one warm-up, then RUNS timed runs. Returns
    the fastest run's seconds, server and client CPU seconds."""
    step()
    best = None
    for _ in range(RUNS):
        cpu0, ccpu0, t0 = server.cpu(), client_cpu(), time.perf_counter()
        step()
        run = {"seconds": time.perf_counter() - t0, "server_cpu": server.cpu() - cpu0,
               "client_cpu": client_cpu() - ccpu0}
        if best is None or run["seconds"] < best["seconds"]:
            best = run
    return best


def expect(what, got, want):
    if got != want:
        raise RuntimeError(f"{what}: got {got}, expected {want}")


def measure_select_fetch(server, sizes):
    # Each run on a fresh connection, the login outside the clock.
    def run():
        c = connect(server)
        cpu0, ccpu0, t0 = server.cpu(), client_cpu(), time.perf_counter()
        exists = c.select("INBOX")
        resp = c.command("FETCH 1:* (UID FLAGS RFC822.SIZE)")
        result = {"seconds": time.perf_counter() - t0, "server_cpu": server.cpu() - cpu0,
                  "client_cpu": client_cpu() - ccpu0}
        c.close()
        expect("SELECT INBOX EXISTS", exists, sizes["inbox"])
        expect("FETCH 1:* responses", resp.count(b" FETCH ("), sizes["inbox"])
        return result

    run()
    best = min((run() for _ in range(RUNS)), key=lambda r: r["seconds"])
    return dict(best, value=best["seconds"])


def measure_fetch_big(server, sizes):
    c = connect(server)
    c.select("Big")
    got = {}

    def step():
        got["resp"] = c.command("FETCH 1 BODY.PEEK[]")

    best = best_of(server, step)
    c.close()
    got["size"] = literal_size(got.pop("resp"))
    if got["size"] < sizes["big"] * 0.9:
        raise RuntimeError(f"FETCH BODY.PEEK[]: literal of {got['size']} bytes")
    return dict(best, value=got["size"] / 1e6 / best["seconds"], bytes=got["size"])


def measure_append(server, mailbox, messages, clients):
    conns = [connect(server) for _ in range(clients)]
    share = [messages[i::clients] for i in range(clients)]
    errors = []
    start = threading.Barrier(clients + 1)

    def run(conn, mine):
        start.wait()
        try:
            for m in mine:
                conn.append(mailbox, m)
        except Exception as e:  # reported after the run
            errors.append(e)

    threads = [threading.Thread(target=run, args=(c, s)) for c, s in zip(conns, share)]
    for t in threads:
        t.start()
    cpu0, ccpu0 = server.cpu(), client_cpu()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    cpu, ccpu = server.cpu() - cpu0, client_cpu() - ccpu0
    for c in conns:
        c.close()
    if errors:
        raise RuntimeError(f"APPEND with {clients} clients: {errors[0]}")
    check = connect(server)
    expect(f"{mailbox} EXISTS after APPEND", check.select(mailbox), len(messages))
    check.close()
    return {"value": len(messages) / seconds, "seconds": seconds, "server_cpu": cpu,
            "client_cpu": ccpu, "messages": len(messages), "clients": clients}


def measure_search(server, criteria, want):
    c = connect(server)
    c.select("Search")
    got = {}

    def step():
        got["hits"] = search_hits(c.command(f"SEARCH {criteria}"))

    best = best_of(server, step)
    c.close()
    expect(f"SEARCH {criteria} hits", got["hits"], want)
    return dict(best, value=best["seconds"], hits=got["hits"])


def measure(server, sizes, appends):
    text_hits, subject_hits = data.expected_hits(sizes["search"])
    out = {}
    steps = [
        ("select_fetch", lambda: measure_select_fetch(server, sizes)),
        ("fetch_big", lambda: measure_fetch_big(server, sizes)),
        ("append_1", lambda: measure_append(server, "Append1", appends, 1)),
        ("append_10", lambda: measure_append(server, "Append10", appends, CLIENTS)),
        ("search_text", lambda: measure_search(server, f"TEXT {data.TEXT_NEEDLE}", text_hits)),
        ("search_subject",
         lambda: measure_search(server, f"SUBJECT {data.SUBJECT_NEEDLE}", subject_hits)),
    ]
    for key, fn in steps:
        print(f"  {server.label}: {key} ...", file=sys.stderr, flush=True)
        out[key] = fn()
    return out


def wait_quiet(max_load, timeout=1800):
    """Waits (up to `timeout` s) for the 1-minute load average to drop below
    max_load: the machine may be shared, and population itself loads it."""
    if not max_load:
        return
    deadline = time.monotonic() + timeout
    while os.getloadavg()[0] >= max_load and time.monotonic() < deadline:
        time.sleep(10)


def run_server(server, source, sizes, appends, max_load=None):
    t0 = time.monotonic()
    try:
        if isinstance(server, Postern):
            server.populate(source)
            server.start()
        else:
            server.start()
            server.populate(source)
        os.sync()  # no writeback of the population during the timed runs
        wait_quiet(max_load)
        load = os.getloadavg()
        print(f"  {server.label}: populated in {time.monotonic() - t0:.0f} s; "
              f"load average {load[0]:.2f}", file=sys.stderr, flush=True)
        figures = measure(server, sizes, appends)
        return {"figures": figures, "load_average_before": load,
                "load_average_after": os.getloadavg()}
    finally:
        server.stop()


def fmt_value(v, unit):
    if unit == "s":
        return f"{v:.3f}"
    return f"{v:,.0f}" if v >= 100 else f"{v:.1f}"


def table(results, labels):
    dovecots = [l for l in labels if l.startswith("dovecot")]
    head = ["figure", "unit"]
    for l in labels:
        head += [l, "CPU s"]
    if "postern" in labels:
        head += [f"postern/{l.split('-', 1)[1]}" for l in dovecots]
    lines = ["| " + " | ".join(head) + " |",
             "| --- | --- |" + " ---: |" * (len(head) - 2)]
    for key, label, unit, _ in FIGURES:
        row = [label, unit]
        for l in labels:
            r = results[l].get("figures", {}).get(key)
            row += [fmt_value(r["value"], unit), f"{r['server_cpu']:.2f}"] if r else ["-", "-"]
        if "postern" in labels:
            p = results["postern"].get("figures", {}).get(key)
            for l in dovecots:
                d = results[l].get("figures", {}).get(key)
                row.append(f"{p['value'] / d['value']:.2f}" if p and d else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="Postern build dir (postern-node, "
                    "posternctl, store_fill)")
    ap.add_argument("--messages", type=int, help="messages in INBOX (default 100000)")
    ap.add_argument("--quick", action="store_true", help="everything 10x smaller")
    ap.add_argument("--only", choices=["postern", "dovecot"])
    ap.add_argument("--out", default="test-artifacts/bench-imap.json")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--max-load", type=float, help="before each server's timed runs, wait "
                    "(up to 30 min) for the 1-minute load average to drop below this")
    args = ap.parse_args()
    scale = 10 if args.quick else 1
    sizes = {"inbox": args.messages or 100_000 // scale, "search": 10_000 // scale,
             "big": 10 * 1024 * 1024 // scale, "append": 10_000 // scale}
    sizes["search"] = min(sizes["search"], sizes["inbox"])
    load = os.getloadavg()
    print(f"imap bench: {sizes['inbox']:,} messages in INBOX, {sizes['search']:,} searched, "
          f"{sizes['append']:,} appended, big message {sizes['big'] / 1e6:.1f} MB; "
          f"load average {load[0]:.2f}, {os.cpu_count()} cores", file=sys.stderr)
    if load[0] >= 2.5:
        print("imap bench: warning: the machine is busy; figures will be noisy", file=sys.stderr)

    base = tempfile.mkdtemp(prefix="postern-bench-imap-")
    servers = []
    if args.only != "postern":
        servers += [Dovecot(base, "maildir"), Dovecot(base, "sdbox")]
    if args.only != "dovecot":
        servers.append(Postern(base, os.path.abspath(args.build)))
    results = {}
    try:
        t0 = time.monotonic()
        source = os.path.join(base, "source")
        data.write_source(source, sizes["inbox"], sizes["search"], sizes["big"])
        appends = data.append_messages(sizes["append"])
        os.sync()
        print(f"imap bench: generated in {time.monotonic() - t0:.0f} s", file=sys.stderr)
        for server in servers:
            try:
                results[server.label] = run_server(server, source, sizes, appends,
                                                   args.max_load)
            except Exception as e:  # one server failing must not lose the others
                print(f"imap bench: {server.label} failed: {e}", file=sys.stderr)
                results[server.label] = {"error": str(e)}
            finally:
                if not args.keep:
                    remove(server)
    finally:
        if args.keep:
            print(f"imap bench: kept {base}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", base])

    labels = [s.label for s in servers]
    print(table(results, labels))
    print("\nratio = Postern's figure / Dovecot's: for s below 1 is faster, for MB/s and "
          "msgs/s above 1 is faster. CPU s = the server's user+system CPU seconds for that "
          "figure (all its processes).")
    loads = [f"{l} {results[l]['load_average_before'][0]:.2f}" for l in labels
             if "load_average_before" in results[l]]
    if loads:
        print(f"1-minute load average before each server's timed runs: {', '.join(loads)}.")
    for l in labels:
        if "error" in results[l]:
            print(f"\n{l}: not measured: {results[l]['error']}")
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cores": os.cpu_count(), "load_average": load,
                    "kernel": platform.release()},
        "dovecot_version": Dovecot.version() if args.only != "postern" else None,
        "sizes": sizes, "runs": RUNS, "clients": CLIENTS,
        "needles": {"text": data.TEXT_NEEDLE, "subject": data.SUBJECT_NEEDLE},
        "figures": {k: {"label": label, "unit": unit, "higher_is_better": hib}
                    for k, label, unit, hib in FIGURES},
        "servers": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\n(JSON: {args.out})")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

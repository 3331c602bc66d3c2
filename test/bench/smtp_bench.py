#!/usr/bin/env python3
"""scripts/bench smtp: Postfix + Dovecot LMTP and postern-node receiving the
same load, side by side. Run through scripts/bench, which installs Postfix
and Dovecot LMTP and builds what is needed; see README.md "Benchmarks".

    smtp_bench.py --build DIR [--messages N] [--quick] [--only postern|postfix]
                  [--out FILE] [--keep] [--max-load L]

The load is Postfix's smtp-source: N messages of 10 KB, 20 sessions in
parallel (a new connection per message, smtp-source's default), one
recipient (bench@example.com, a local user of both systems). Per system:
  accepted  N / wall time of smtp-source (every message answered 250 after
            DATA: both promise durability at that point)
  durable   N / time from smtp-source's start until all N messages are in
            the user's INBOX (Maildir files for Dovecot, IMAP STATUS INBOX
            for Postern)
with the servers' CPU seconds (all their processes) over each span. The
machine's raw fsync rate (4 KB file written and fsynced, one at a time) is
printed for comparing machines.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from smtp_bench_servers import USER, Postern, PostfixDovecot, remove  # noqa: E402

SESSIONS = 20
SIZE = 10240
SENDER = "sender@remote.test"
POLL = 0.1  # seconds between mailbox counts
STALL = 60  # seconds without a new message before giving up

FIGURES = [
    ("accepted", "accepted (250 after DATA)", "msgs/s"),
    ("durable", "durable in the mailbox, end to end", "msgs/s"),
]


def fsync_rate(folder, seconds=1.0):
    """4 KB files created, written and fsynced one after another: files/s."""
    path = os.path.join(folder, "fsync-probe")
    os.makedirs(path, exist_ok=True)
    block = b"x" * 4096
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fd = os.open(os.path.join(path, f"{n}"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, block)
        os.fsync(fd)
        os.close(fd)
        n += 1
    rate = n / (time.perf_counter() - t0)
    subprocess.run(["rm", "-rf", path])
    return rate


def smtp_source_cmd(port, messages):
    return ["smtp-source", "-s", str(SESSIONS), "-m", str(messages), "-l", str(SIZE),
            "-f", SENDER, "-t", USER, f"127.0.0.1:{port}"]


def total(cpu):
    return sum(cpu.values())


def measure(system, messages):
    """Runs smtp-source against `system` (started) and waits for every
    message in the INBOX."""
    before = system.count()
    if before != 0:
        raise RuntimeError(f"INBOX holds {before} messages before the run")
    cmd = smtp_source_cmd(system.port, messages)
    cpu0 = system.cpu()
    t0 = time.perf_counter()
    src = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    # The reader thread keeps smtp-source from blocking on a full pipe.
    out = {}
    reader = threading.Thread(target=lambda: out.update(zip(("stdout", "stderr"),
                                                            src.communicate())))
    reader.start()
    accepted_at = None
    count, last_count, last_change = 0, 0, time.perf_counter()
    while True:
        if accepted_at is None and src.poll() is not None:
            accepted_at = time.perf_counter() - t0
            cpu_accepted = system.cpu()
            if src.returncode != 0:
                reader.join()
                raise RuntimeError(f"smtp-source exited {src.returncode}: "
                                   f"{out['stderr'].decode(errors='replace')[-2000:]}\n"
                                   f"in the INBOX: {system.count()}\n{system.diagnose()}")
        count = system.count()
        now = time.perf_counter()
        if count >= messages and accepted_at is not None:
            durable_at = now - t0
            cpu_durable = system.cpu()
            break
        if count != last_count:
            last_count, last_change = count, now
        elif now - last_change > STALL and accepted_at is not None:
            raise RuntimeError(f"only {count} of {messages} messages in the INBOX, none new "
                               f"for {STALL} s\n{system.diagnose()}")
        time.sleep(POLL)
    reader.join()
    if count != messages:
        raise RuntimeError(f"{count} messages in the INBOX, {messages} sent")
    return {
        "accepted": {"value": messages / accepted_at, "seconds": accepted_at,
                     "server_cpu": total(cpu_accepted) - total(cpu0),
                     "cpu": {k: cpu_accepted[k] - cpu0[k] for k in cpu0}},
        "durable": {"value": messages / durable_at, "seconds": durable_at,
                    "server_cpu": total(cpu_durable) - total(cpu0),
                    "cpu": {k: cpu_durable[k] - cpu0[k] for k in cpu0}},
        "command": " ".join(cmd),
        "smtp_source_stderr": out["stderr"].decode(errors="replace")[-2000:],
    }


def settle(max_load, timeout=240):
    """Flushes what the previous system left dirty and waits (up to `timeout`
    s) for the 1-minute load average to fall below `max_load`: its writeback
    and blocked threads must not be charged to the next system."""
    os.sync()
    deadline = time.monotonic() + timeout
    while max_load and os.getloadavg()[0] >= max_load and time.monotonic() < deadline:
        time.sleep(5)


def run_system(system, messages, max_load=None):
    settle(max_load)
    try:
        system.start()
        load = os.getloadavg()
        print(f"  {system.label}: started; load average {load[0]:.2f}; sending "
              f"{messages:,} messages", file=sys.stderr, flush=True)
        figures = measure(system, messages)
        return {"figures": figures, "storage": system.storage, "versions": system.versions(),
                "load_average_before": load, "load_average_after": os.getloadavg()}
    finally:
        system.stop()


def table(results, labels):
    head = ["figure", "unit"]
    for l in labels:
        head += [l, "CPU s"]
    ratio = "postern" in labels and "postfix+dovecot" in labels
    if ratio:
        head.append("postern / postfix+dovecot")
    lines = ["| " + " | ".join(head) + " |",
             "| --- | --- |" + " ---: |" * (len(head) - 2)]
    for key, label, unit in FIGURES:
        row = [label, unit]
        for l in labels:
            r = results[l].get("figures", {}).get(key)
            row += [f"{r['value']:,.0f}", f"{r['server_cpu']:.1f}"] if r else ["-", "-"]
        if ratio:
            p = results["postern"].get("figures", {}).get(key)
            d = results["postfix+dovecot"].get("figures", {}).get(key)
            row.append(f"{p['value'] / d['value']:.2f}" if p and d else "-")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build", help="Postern build dir (postern-node, "
                    "posternctl)")
    ap.add_argument("--messages", type=int, help="messages sent (default 5000)")
    ap.add_argument("--quick", action="store_true", help="500 messages")
    ap.add_argument("--only", choices=["postern", "postfix"])
    ap.add_argument("--out", default="test-artifacts/bench-smtp.json")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    ap.add_argument("--max-load", type=float, default=1.5,
                    help="before each system, wait (at most 4 minutes) for the load average "
                         "to fall below this (default 1.5; 0 = do not wait)")
    args = ap.parse_args()
    messages = args.messages or (500 if args.quick else 5000)
    load = os.getloadavg()
    print(f"smtp bench: {messages:,} messages of {SIZE // 1024} KB, {SESSIONS} sessions; "
          f"load average {load[0]:.2f}, {os.cpu_count()} cores", file=sys.stderr)
    if load[0] >= 2.5:
        print("smtp bench: warning: the machine is busy; figures will be noisy", file=sys.stderr)

    base = tempfile.mkdtemp(prefix="postern-bench-smtp-")
    systems = []
    if args.only != "postern":
        systems.append(PostfixDovecot(base))
    if args.only != "postfix":
        systems.append(Postern(base, os.path.abspath(args.build)))
    results = {}
    try:
        fsyncs = fsync_rate(base)
        for system in systems:
            try:
                results[system.label] = run_system(system, messages, args.max_load)
            except Exception as e:  # one system failing must not lose the other
                print(f"smtp bench: {system.label} failed: {e}", file=sys.stderr)
                results[system.label] = {"error": str(e)}
            finally:
                if not args.keep:
                    remove(system)
    finally:
        if args.keep:
            print(f"smtp bench: kept {base}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", base])

    labels = [s.label for s in systems]
    print(table(results, labels))
    print(f"\n{messages:,} messages of {SIZE:,} bytes from `{' '.join(smtp_source_cmd('PORT', messages))}` "
          f"(a new connection per message). accepted = messages / smtp-source's wall time; "
          f"durable = messages / time until all are in the INBOX. CPU s = the servers' "
          f"user+system CPU seconds over that span (all their processes).")
    for s in systems:
        r = results[s.label]
        if "figures" in r:
            cpu = ", ".join(f"{k} {v:.1f} s" for k, v in r["figures"]["durable"]["cpu"].items())
            print(f"{s.label}: stored as {s.storage}; CPU until durable: {cpu}; "
                  f"load average before {r['load_average_before'][0]:.2f}.")
    print(f"Raw fsync rate of the temp dir's disk: {fsyncs:,.0f} 4 KB files/s "
          f"(write + fsync, one at a time).")
    for l in labels:
        if "error" in results[l]:
            print(f"\n{l}: not measured: {results[l]['error']}")
    report = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cores": os.cpu_count(), "load_average": load, "kernel": platform.release(),
                    "fsyncs_per_second": fsyncs},
        "messages": messages, "size": SIZE, "sessions": SESSIONS,
        "figures": {k: {"label": label, "unit": unit} for k, label, unit in FIGURES},
        "systems": results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\n(JSON: {args.out})")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

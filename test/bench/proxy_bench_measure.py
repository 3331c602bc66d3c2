"""The measurements of scripts/bench proxy, each against one started proxy:
the load comes from the C++ load generator (test/bench/loadgen) or, for
SMTP, from Postfix's smtp-source; CPU and memory from /proc (every process of
the proxy's tree; nginx's auth service apart).
"""

import json
import os
import resource
import signal
import subprocess
import time

SMTP_SESSIONS = 20
SMTP_SIZE = 10240
SMTP_RECIPIENT = "bob@example.com"  # node2


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


class Loadgen:
    def __init__(self, binary, users_file, threads=1):
        self.binary = binary
        self.users_file = users_file
        self.threads = threads

    def start(self, mode, to, *args):
        """Starts one mode against `to` (a port on 127.0.0.1 or HOST:PORT)."""
        target = to if isinstance(to, str) else f"127.0.0.1:{to}"
        return subprocess.Popen([self.binary, mode, "--to", target] + [str(a) for a in args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def finish(p, mode, timeout=600):
        """Waits for a started mode: its JSON result."""
        out, err = p.communicate(timeout=timeout)
        lines = [l for l in out.splitlines() if l.startswith("{")]
        if not lines:
            raise RuntimeError(f"loadgen {mode} exited {p.returncode}: {err.strip()[-1000:]}")
        result = json.loads(lines[-1])
        if "error" in result:
            raise RuntimeError(f"loadgen {mode}: {result['error']}")
        return result

    def run(self, mode, to, *args):
        """Runs one mode to completion: (its JSON result, its CPU seconds)."""
        cpu0 = children_cpu()
        result = self.finish(self.start(mode, to, *args), mode)
        return result, children_cpu() - cpu0

    def logins(self, protocol, to, clients, seconds, users_file=None):
        return self.run(f"{protocol}-login", to, "--users", users_file or self.users_file,
                        "--clients", clients, "--seconds", seconds, "--threads", self.threads)


def _cpu(proxy, cluster):
    return {"proxy": proxy.cpu(), "helper": proxy.helper_cpu(), **cluster.cpu()}


def _delta(after, before):
    return {k: after[k] - before[k] for k in after}


def logins(loadgen, proxy, cluster, protocol, clients, seconds):
    """Logins/s of `clients` concurrent connect-login-logout loops."""
    before = _cpu(proxy, cluster)
    r, loadgen_cpu = loadgen.logins(protocol, proxy.ports[protocol], clients, seconds)
    cpu = _delta(_cpu(proxy, cluster), before)
    n = r["logins"]
    return {
        "value": r["logins_per_second"], "logins": n, "errors": r["error_count"],
        "error_kinds": r["errors"], "error_samples": r["error_samples"],
        "latency_ms": r["latency_ms"], "cpu": cpu, "loadgen_cpu": loadgen_cpu,
        "per_cpu_second": n / cpu["proxy"] if cpu["proxy"] > 0 else None,
        "per_cpu_second_with_helper": (n / (cpu["proxy"] + cpu["helper"])
                                       if cpu["proxy"] + cpu["helper"] > 0 else None),
    }


def fetch(loadgen, proxy, cluster, user, password, iterations):
    """UID FETCH 1 BODY[] of the 10 MB message through the proxy, `iterations`
    times (enough bytes that /proc's 10 ms CPU ticks do not matter). The CPU
    span also holds the login and one untimed warm-up FETCH: it is divided by
    every byte fetched, warm-up included."""
    before = _cpu(proxy, cluster)
    r, loadgen_cpu = loadgen.run("fetch", proxy.ports["imap"], "--user", user, "--password",
                                 password, "--uid", 1, "--iterations", iterations)
    cpu = _delta(_cpu(proxy, cluster), before)
    gigabytes = r["size"] * (iterations + 1) / 1e9
    return {"value": r["mb_per_second"], "size": r["size"], "seconds": r["each"],
            "cpu": cpu, "loadgen_cpu": loadgen_cpu,
            "cpu_per_gb": cpu["proxy"] / gigabytes, "nodes_cpu_per_gb": cpu["nodes"] / gigabytes}


def idle_memory(loadgen, proxy, connections, timeout=120):
    """Resident memory per idle logged-in IMAP connection: the proxy's RSS
    with `connections` held minus before, divided by the connections."""
    before = proxy.rss()
    p = subprocess.Popen([loadgen.binary, "imap-idle", "--to", f"127.0.0.1:{proxy.ports['imap']}",
                          "--users", loadgen.users_file, "--connections", str(connections),
                          "--clients", "100", "--seconds", str(timeout), "--threads",
                          str(loadgen.threads)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        ready = json.loads(p.stdout.readline() or "{}")
        if "held" not in ready:
            raise RuntimeError(f"loadgen imap-idle: {p.stderr.read()[-1000:]}")
        time.sleep(1)  # late allocations (buffers made on the first idle tick)
        held_rss = proxy.rss()
    finally:
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=30)
    still = [json.loads(l) for l in out.splitlines() if l.startswith("{")]
    held = ready["held"]
    return {"value": (held_rss - before) / held / 1024 if held else None, "held": held,
            "wanted": connections, "errors": ready.get("errors"),
            "still_open_at_end": still[-1].get("still_open") if still else None,
            "rss_before": before, "rss_held": held_rss}


def smtp(proxy, cluster, messages):
    """smtp-source through the proxy's SMTP listener (a new connection per
    message, one recipient on node2): msgs/s accepted."""
    cmd = ["smtp-source", "-s", str(SMTP_SESSIONS), "-m", str(messages), "-l", str(SMTP_SIZE),
           "-f", "sender@remote.test", "-t", SMTP_RECIPIENT, f"127.0.0.1:{proxy.ports['smtp']}"]
    before = _cpu(proxy, cluster)
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - t0
    cpu = _delta(_cpu(proxy, cluster), before)
    if r.returncode != 0:
        raise RuntimeError(f"smtp-source exited {r.returncode}: {r.stderr.strip()[-1000:]}")
    # smtp-source reports a refused message on stderr and goes on.
    complaints = [l for l in r.stderr.splitlines() if "smtp-source:" in l]
    return {"value": messages / seconds, "messages": messages, "seconds": seconds, "cpu": cpu,
            "errors": len(complaints), "error_samples": complaints[:5],
            "cpu_ms_per_message": cpu["proxy"] / messages * 1000, "command": " ".join(cmd)}


def direct(loadgen, cluster, clients, seconds, base):
    """The nodes without a proxy: one generator per node with half the
    clients and that node's users, at once; first until every user has
    logged in once (each account's store is created at its first login, not
    to be charged to whichever proxy runs first), then measured."""
    files = {}
    for name, node in cluster.nodes.items():
        files[name] = os.path.join(base, f"users-{name}.txt")
        with open(files[name], "w") as f:
            f.writelines(f"{login} {password}\n" for login, password, n in cluster.users
                         if n == name)
    for name, node in cluster.nodes.items():
        want = sum(1 for u in cluster.users if u[2] == name)
        done, deadline = 0, time.monotonic() + 120
        while done < want and time.monotonic() < deadline:
            r, _ = loadgen.logins("imap", node.address("imap"), clients // 2, 2, files[name])
            done += r["logins"]
        if done < want:
            raise RuntimeError(f"warming {name}: {done} of {want} logins in 120 s")
    before = cluster.cpu()
    procs = [(loadgen.start("imap-login", node.address("imap"), "--users", files[name],
                            "--clients", max(1, clients // 2), "--seconds", seconds,
                            "--threads", loadgen.threads), name)
             for name, node in cluster.nodes.items()]
    results = [loadgen.finish(p, "imap-login") for p, _ in procs]
    cpu = _delta(cluster.cpu(), before)
    n = sum(r["logins"] for r in results)
    return {"value": n / seconds, "logins": n, "errors": sum(r["error_count"] for r in results),
            "cpu": cpu, "node_cpu_ms_per_login": cpu["nodes"] / n * 1000 if n else None}

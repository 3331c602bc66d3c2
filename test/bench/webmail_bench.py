#!/usr/bin/env python3
"""scripts/bench webmail: WebMail requests/s for listing a 1,000-message
folder and opening a message, directly against the node and through
postern-proxy, and the ratio. Run through scripts/bench, which builds what is
needed; see README.md "Benchmarks".

    webmail_bench.py --build DIR [--messages N] [--seconds S] [--connections C]
                     [--quick] [--out FILE] [--keep]

On loopback, in a temp dir: slapd with the sample tree (proxy_bench_cluster),
node1 and node2 with an "http" listener each, alice's INBOX on node1 filled
with N generated messages (default 1,000; plain text, and HTML alternatives
every third one) by store_fill before the node starts, and postern-proxy
with an "http" listener in front of both nodes. alice logs in once on each
path (the node: its session cookie; the proxy: the session and the proxy's
signed routing cookie); then the C++ load generator (loadgen http) keeps C
keep-alive connections (default 20) busy for S seconds (default 10) with

  list  GET /api/folders/INBOX/messages?page=0&size=50
  open  GET /api/folders/INBOX/messages/<uid>, cycling over every UID

each after a 1 s warm-up. The generator's own ceiling (against its
instant-reply stub, with a response the size of a listing) is printed too,
to show it is not the bottleneck.
"""

import argparse
import http.client
import json
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from imap_bench_servers import free_port, process_tree_cpu  # noqa: E402
from proxy_bench_cluster import NODES, Directory, Node, directory_config, \
    free_port_on, node_host  # noqa: E402
from proxy_bench_proxies import Proxy  # noqa: E402

USER, PASSWORD = "alice@example.com", "alice-secret"  # node1 in the sample tree
COOKIE_SECRET = "bench-webmail-route-secret-0123456789abcdef"
LIST_PATH = "/api/folders/INBOX/messages?page=0&size=50&sort=date&order=desc"
WORDS = ("alpha beta gamma delta report meeting budget review invoice project team update "
         "schedule draft quarter release notes customer support question answer").split()


class WebNode(Node):
    """A bench node with an "http" listener (plaintext logins allowed)."""

    def _write_config(self):
        super()._write_config()
        with open(self.conf) as f:
            config = json.load(f)
        config["listeners"].append({
            "name": "http", "protocol": "http", "address": self.address("http"), "tls": "none",
            "allow_plaintext_auth": True,
            "flow": {"max_connections": 20000, "max_per_ip": 20000}})
        with open(self.conf, "w") as f:
            json.dump(config, f, indent=2)


class WebProxy(Proxy):
    """postern-proxy with one "http" listener routing to both nodes."""

    services = ("http",)

    def __init__(self, base, build, directory, nodes):
        super().__init__(base, "postern")
        self.binary = os.path.join(build, "proxy", "postern-proxy")
        self.directory = directory
        self.nodes = nodes
        self.admin_port = free_port()

    def start(self):
        config = {
            "proxy": {"name": "bench-proxy", "threads": 0, "verify_credentials": True},
            "listeners": [{"name": "http", "protocol": "http",
                           "address": f"127.0.0.1:{self.ports['http']}", "tls": "none",
                           "allow_plaintext_auth": True,
                           "flow": {"max_connections": 20000, "max_per_ip": 20000}}],
            "http": {"cookie_secret": COOKIE_SECRET},
            "admin": {"address": f"127.0.0.1:{self.admin_port}"},
            "directory": directory_config(self.directory.uri),
            "nodes": {n: {"http": node.address("http")} for n, node in self.nodes.items()},
            "log": {"level": "warn"},
        }
        self.conf = os.path.join(self.dir, "proxy.json")
        with open(self.conf, "w") as f:
            json.dump(config, f, indent=2)
        self._spawn([self.binary, "-c", self.conf])


def wait_listening(host, port, server, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            if server.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{server.label}: no http listener on {host}:{port}:\n"
                                   f"{server.log()[-3000:]}")
            time.sleep(0.05)


def write_messages(folder, count, seed=7):
    """`count` message files, names in order (store_fill appends by name)."""
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(seed)
    for i in range(count):
        sender = f"sender{rng.randrange(200)}@remote{rng.randrange(20)}.test"
        subject = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 9)))
        paragraphs = ["\n".join(" ".join(rng.choice(WORDS) for _ in range(12))
                                for _ in range(rng.randrange(3, 8)))
                      for _ in range(rng.randrange(2, 6))]
        text = "\n\n".join(paragraphs) + "\n"
        head = (f"From: Sender {i} <{sender}>\nTo: Alice <{USER}>\nSubject: {subject} #{i}\n"
                f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(1.7e9 + i * 600))}\n"
                f"Message-ID: <bench-{i}@remote.test>\nMIME-Version: 1.0\n")
        if i % 3 == 0:
            html = "".join(f"<p>{p}</p>" for p in paragraphs)
            body = (f"Content-Type: multipart/alternative; boundary=b{i}\n\n"
                    f"--b{i}\nContent-Type: text/plain; charset=utf-8\n\n{text}"
                    f"--b{i}\nContent-Type: text/html; charset=utf-8\n\n"
                    f"<html><body>{html}</body></html>\n--b{i}--\n")
        else:
            body = f"Content-Type: text/plain; charset=utf-8\n\n{text}"
        with open(os.path.join(folder, f"{i:06d}.eml"), "w") as f:
            f.write(head + body)


def login(port, host="127.0.0.1"):
    """POST /api/login as alice: the Cookie header value to send afterwards."""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("POST", "/api/login", json.dumps({"user": USER, "password": PASSWORD}),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"login on {host}:{port}: {r.status} {body[:300]!r}")
        cookies = [v.split(";", 1)[0] for k, v in r.getheaders() if k.lower() == "set-cookie"]
        if not cookies:
            raise RuntimeError(f"login on {host}:{port}: no Set-Cookie")
        return "; ".join(cookies)
    finally:
        conn.close()


def get_json(port, path, cookie, host="127.0.0.1"):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.request("GET", path, headers={"Cookie": cookie})
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError(f"GET {path}: {r.status} {body[:300]!r}")
        return json.loads(body)
    finally:
        conn.close()


def all_uids(port, cookie, expected, host="127.0.0.1"):
    """Every UID of the INBOX (pages of 200), checking the folder is full."""
    uids, page = [], 0
    while True:
        r = get_json(port, f"/api/folders/INBOX/messages?page={page}&size=200", cookie, host)
        uids += [m["uid"] for m in r["messages"]]
        if not r["messages"] or len(uids) >= r["total"]:
            break
        page += 1
    if len(uids) != expected:
        raise RuntimeError(f"INBOX holds {len(uids)} messages, expected {expected}")
    return uids


class Loadgen:
    def __init__(self, binary, base):
        self.binary = binary
        self.base = base

    def http(self, target, paths, cookie, connections, seconds):
        """One run: (its JSON result, the generator's CPU seconds)."""
        paths_file = os.path.join(self.base, f"paths-{len(paths)}.txt")
        with open(paths_file, "w") as f:
            f.write("\n".join(paths) + "\n")
        before = os.times()
        p = subprocess.run([self.binary, "http", "--to", target, "--paths", paths_file,
                            "--cookie", cookie, "--connections", str(connections),
                            "--seconds", str(seconds)], capture_output=True, text=True,
                           timeout=seconds + 120)
        after = os.times()
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        if not lines:
            raise RuntimeError(f"loadgen http exited {p.returncode}: {p.stderr[-1000:]}")
        cpu = (after.children_user + after.children_system -
               before.children_user - before.children_system)
        return json.loads(lines[-1]), cpu

    def ceiling(self, response_size, connections, seconds):
        port = free_port()
        stub = subprocess.Popen([self.binary, "http-stub", "--listen", f"127.0.0.1:{port}",
                                 "--size", str(response_size)], stdout=subprocess.PIPE, text=True)
        try:
            stub.stdout.readline()
            r, _ = self.http(f"127.0.0.1:{port}", ["/"], "x=y", connections, seconds)
            return r["requests_per_second"]
        finally:
            stub.terminate()
            stub.wait()


def measure(loadgen, label, target, cookie, paths, args, cpu_of):
    loadgen.http(target, paths, cookie, args.connections, 1)  # warm-up
    cpu0 = cpu_of()
    r, _ = loadgen.http(target, paths, cookie, args.connections, args.seconds)
    r["server_cpu_seconds"] = cpu_of() - cpu0
    errors = f", errors {r['errors']}" if r["error_count"] else ""
    print(f"  {label}: {r['requests_per_second']:,.0f} requests/s, p50 "
          f"{r['latency_ms']['p50']:.2f} ms{errors}", file=sys.stderr, flush=True)
    return r


def print_report(results, ceiling, args):
    print(f"\nWebMail, alice's INBOX of {args.messages} messages, {args.connections} keep-alive "
          f"connections, {args.seconds:g} s per figure; load generator ceiling "
          f"{ceiling:,.0f} requests/s\n")
    print("| request | node directly (req/s) | through postern-proxy (req/s) | proxy/direct |")
    print("| --- | ---: | ---: | ---: |")
    for figure, title in (("list", "list 50 of the folder"), ("open", "open a message")):
        d = results.get("direct", {}).get(figure)
        p = results.get("proxy", {}).get(figure)
        dv = f"{d['requests_per_second']:,.0f}" if d else "n/a"
        pv = f"{p['requests_per_second']:,.0f}" if p else "n/a"
        ratio = (f"{p['requests_per_second'] / d['requests_per_second']:.2f}"
                 if d and p and d["requests_per_second"] else "n/a")
        print(f"| {title} | {dv} | {pv} | {ratio} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--seconds", type=float, help="per figure (default 10; --quick 3)")
    ap.add_argument("--connections", type=int, default=20)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default="test-artifacts/bench-webmail.json")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir")
    args = ap.parse_args()
    args.seconds = args.seconds or (3 if args.quick else 10)
    build = os.path.abspath(args.build)
    base = tempfile.mkdtemp(prefix="postern-bench-webmail-")
    loadgen = Loadgen(os.path.join(build, "test", "bench", "loadgen", "loadgen"), base)
    directory = Directory(base, 1)
    hosts = [node_host(n) for n in NODES]
    ports = {s: free_port_on(hosts) for s in ("imap", "pop3", "smtp", "admin", "http")}
    nodes = {n: WebNode(base, build, n, directory, ports) for n in NODES}
    proxy = WebProxy(base, build, directory, nodes)
    results, errors, ceiling = {}, {}, 0.0
    try:
        print(f"webmail bench: {args.messages} messages, {args.connections} connections, "
              f"{args.seconds:g} s per figure; load average {os.getloadavg()[0]:.2f}, "
              f"{os.cpu_count()} cores", file=sys.stderr, flush=True)
        ceiling = loadgen.ceiling(20000, args.connections, min(args.seconds, 3))
        print(f"  loadgen ceiling: {ceiling:,.0f} requests/s", file=sys.stderr, flush=True)
        node1 = nodes["node1"]
        node1._write_config()
        source = os.path.join(base, "messages")
        write_messages(source, args.messages)
        fill = os.path.join(build, "test", "bench", "store_fill")
        r = subprocess.run([fill, os.path.join(node1.dir, "store"), USER, "INBOX", source],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"store_fill: {r.stderr[-2000:]}")
        directory.start()
        for node in nodes.values():
            node.start()
        wait_listening(node1.host, ports["http"], node1)
        proxy.start()

        paths = {}
        for path_name, port, host, cpu_of in (
                ("direct", ports["http"], node1.host, lambda: node1.cpu()),
                ("proxy", proxy.ports["http"], "127.0.0.1",
                 lambda: process_tree_cpu(proxy.proc.pid) + node1.cpu())):
            try:
                cookie = login(port, host)
                if not paths:
                    uids = all_uids(port, cookie, args.messages, host)
                    paths = {"list": [LIST_PATH],
                             "open": [f"/api/folders/INBOX/messages/{u}" for u in uids]}
                results[path_name] = {}
                for figure in ("list", "open"):
                    results[path_name][figure] = measure(
                        loadgen, f"{path_name} {figure}", f"{host}:{port}", cookie,
                        paths[figure], args, cpu_of)
            except Exception as e:  # one path failing must not lose the other
                errors[path_name] = str(e)
                print(f"webmail bench: {path_name}: {e}", file=sys.stderr, flush=True)
    finally:
        proxy.stop()
        for node in nodes.values():
            node.stop()
        directory.stop()
        if args.keep:
            print(f"webmail bench: kept {base}", file=sys.stderr)
        else:
            subprocess.run(["rm", "-rf", base])

    print_report(results, ceiling, args)
    report = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": {"cores": os.cpu_count(), "load_average": os.getloadavg(),
                          "kernel": platform.release()},
              "options": vars(args), "loadgen_ceiling": ceiling, "results": results,
              "errors": errors}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\n(JSON: {args.out})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())

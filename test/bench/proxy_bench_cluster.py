"""What every proxy of scripts/bench proxy stands in front of, in the
benchmark's temp dir on loopback: a private slapd (scripts/lib/slapd-instance)
with the sample tree plus USERS bench users, and two postern-nodes.

Node N listens on 127.0.1.N (all of 127/8 is loopback on Linux), the same
port numbers on both nodes: a node's address follows from its name (mailHost
node1 -> 127.0.1.1), which lets Dovecot's LDAP passdb turn mailHost into a
host with a plain template, as nginx's auth service and Postern do with a
table.

Bench users: user<i>@example.com, password user<i>-secret, mailHost
node1/node2 alternately, active, members of cn=benchusers, itself a member
of cn=mailusers (the required group).
"""

import json
import os
import resource
import smtplib
import socket
import subprocess
import time

from imap_bench_client import Imap
from imap_bench_servers import Server, free_port, process_tree_cpu

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SLAPD_INSTANCE = os.path.join(REPO, "scripts", "lib", "slapd-instance")
SAMPLE_LDIF = os.path.join(REPO, "ldap-schema", "sample.ldif")
SERVICE_DN = "cn=postern,dc=example,dc=com"
SERVICE_PW = "postern-secret"
PEOPLE = "ou=people,dc=example,dc=com"
GROUPS = "ou=groups,dc=example,dc=com"
REQUIRED_GROUP = "cn=mailusers," + GROUPS
NODES = ("node1", "node2")
# The 10 MB message is alice's (node1) only message: UID 1.
FETCH_USER, FETCH_PASSWORD = "alice@example.com", "alice-secret"
FETCH_SIZE = 10 * 1024 * 1024


def node_host(name):
    return f"127.0.1.{name[-1]}"


def raise_nofile():
    """preexec_fn: the soft descriptor limit up to the hard one (2,000 idle
    connections are 4,000 descriptors in a proxy)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port_on(hosts):
    """A port free on every address of `hosts`."""
    for _ in range(50):
        port = free_port()
        try:
            for h in hosts:
                with socket.socket() as s:
                    s.bind((h, port))
            return port
        except OSError:
            continue
    raise RuntimeError(f"no port free on all of {hosts}")


def tree_pids(root):
    """`root` and its live descendants."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    data = f.read()
                parents[int(name)] = int(data[data.rfind(b")") + 2:].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    tree, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        for child, parent in parents.items():
            if parent == p and child not in tree:
                tree.add(child)
                frontier.append(child)
    return tree


def tree_rss(root):
    """Sum of VmRSS (bytes) over `root`'s process tree."""
    total = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def users(count):
    """[(login, password, node)] of the bench users."""
    return [(f"user{i}@example.com", f"user{i}-secret", NODES[i % 2]) for i in range(count)]


class Directory:
    """slapd with the sample tree and the bench users."""

    label = "slapd"

    def __init__(self, base, count):
        self.dir = os.path.join(base, "slapd")
        self.count = count
        self.port = free_port()
        self.uri = f"ldap://127.0.0.1:{self.port}"
        self.pid = None

    def _ldif(self):
        path = os.path.join(os.path.dirname(self.dir), "bench-users.ldif")
        with open(path, "w") as f:
            f.write(f"dn: cn=benchusers,{GROUPS}\nobjectClass: groupOfNames\ncn: benchusers\n")
            for i in range(self.count):
                f.write(f"member: uid=user{i},{PEOPLE}\n")
            f.write("\n")
            for login, password, node in users(self.count):
                uid = login.split("@")[0]
                f.write(f"dn: uid={uid},{PEOPLE}\nobjectClass: inetOrgPerson\n"
                        f"objectClass: inetLocalMailRecipient\nobjectClass: posternAccount\n"
                        f"uid: {uid}\ncn: Bench {uid}\nsn: {uid}\nmail: {login}\n"
                        f"mailHost: {node}\nposternAccountState: active\n"
                        f"userPassword: {password}\n\n")
        return path

    def start(self):
        r = subprocess.run([SLAPD_INSTANCE, "start", self.dir, str(self.port), SAMPLE_LDIF,
                            self._ldif()], capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"slapd-instance start: {r.stderr.strip()[-2000:]}")
        with open(os.path.join(self.dir, "slapd.pid")) as f:
            self.pid = int(f.read().strip())
        r = subprocess.run(["ldapmodify", "-x", "-H", self.uri, "-D", "cn=admin,dc=example,dc=com",
                            "-w", "admin-secret"], capture_output=True, text=True,
                           input=f"dn: {REQUIRED_GROUP}\nchangetype: modify\nadd: member\n"
                                 f"member: cn=benchusers,{GROUPS}\n")
        if r.returncode != 0:
            raise RuntimeError(f"ldapmodify: {r.stderr.strip()}")

    def cpu(self):
        return process_tree_cpu(self.pid) if self.pid else 0.0

    def stop(self):
        subprocess.run([SLAPD_INSTANCE, "stop", self.dir], capture_output=True)


class Node(Server):
    """postern-node `name` on node_host(name): IMAP, POP3 and SMTP in
    plaintext, the LDAP directory (as conf/node1.json), trusting 127/8 as
    its proxies, flow limits well above 2,000 connections from one address."""

    def __init__(self, base, build, name, directory, ports):
        self.build = build
        self.label = name
        self.name = name
        self.host = node_host(name)
        self.dir = os.path.join(base, name)
        self.conf = os.path.join(self.dir, "node.json")
        self.log_path = os.path.join(self.dir, "node.log")
        self.directory = directory
        self.ports = ports  # {"imap": p, "pop3": p, "smtp": p, "admin": p}, the same on both nodes
        self.port = ports["imap"]

    def address(self, service):
        return f"{self.host}:{self.ports[service]}"

    def _write_config(self):
        os.makedirs(os.path.join(self.dir, "store"), exist_ok=True)
        flow = {"max_connections": 20000, "max_per_ip": 20000}
        listeners = [{"name": p, "protocol": p, "address": self.address(p), "tls": "none",
                      "allow_plaintext_auth": True, "flow": flow,
                      "errors": {"max_bad_commands": 20, "max_failed_logins": 3}}
                     for p in ("imap", "pop3")]
        listeners.append({"name": "smtp", "protocol": "smtp", "address": self.address("smtp"),
                          "tls": "none", "flow": flow})
        config = {
            "node": {"name": self.name, "threads": 2, "worker_threads": 16,
                     "store": os.path.join(self.dir, "store"),
                     "trusted_proxies": ["127.0.0.0/8"]},
            "listeners": listeners,
            "smtp": {"hostname": f"{self.name}.bench.test", "local_domains": ["example.com"],
                     "relay_networks": ["127.0.0.0/8"], "spf": "ignore"},
            "queue": {"path": os.path.join(self.dir, "queue")},
            "cluster": {n: {"smtp": f"{node_host(n)}:{self.ports['smtp']}"} for n in NODES},
            "admin": {"address": f"{self.host}:{self.ports['admin']}"},
            "directory": directory_config(self.directory.uri),
            "log": {"level": "warn"},
        }
        with open(self.conf, "w") as f:
            json.dump(config, f, indent=2)

    def start(self):
        self._write_config()
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(self.build, "backend", "postern-node"), "-c", self.conf],
            stdin=subprocess.DEVNULL, stdout=self.log_file, stderr=subprocess.STDOUT,
            preexec_fn=raise_nofile)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=0.5).close()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not start:\n{self.log()}")
                time.sleep(0.05)

    def stop(self):
        super().stop()
        if getattr(self, "log_file", None):
            self.log_file.close()


def directory_config(uri, cache=True):
    """The "directory" section of the nodes and Postern's proxy: conf/node1.json's
    (without its cache when not `cache`)."""
    return {
        "source": "ldap",
        "primary_domain": "example.com",
        "ldap": {
            "uris": [uri],
            "bind_dn": SERVICE_DN,
            "bind_password": SERVICE_PW,
            "base_dn": PEOPLE,
            "timeouts": {"connect": 3, "search": 5, "bind": 5},
            "group": {"required": REQUIRED_GROUP, "base_dn": GROUPS},
        },
        "cache": ({"positive_ttl": 300, "negative_ttl": 30, "stale_ttl": 3600} if cache
                  else {"enabled": False}),
    }


class Cluster:
    """slapd + node1 + node2, and the 10 MB message in alice's INBOX."""

    def __init__(self, base, build, count):
        self.directory = Directory(base, count)
        hosts = [node_host(n) for n in NODES]
        ports = {s: free_port_on(hosts) for s in ("imap", "pop3", "smtp", "admin")}
        self.nodes = {n: Node(base, build, n, self.directory, ports) for n in NODES}
        self.users = users(count)

    def start(self):
        self.directory.start()
        for node in self.nodes.values():
            node.start()
        self._deliver_big_message()

    def _deliver_big_message(self):
        node = self.nodes["node1"]
        line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab\r\n"
        head = (b"From: bench@remote.test\r\nTo: alice@example.com\r\n"
                b"Subject: 10 MB for scripts/bench proxy\r\nMessage-ID: <big@bench.test>\r\n\r\n")
        body = line * ((FETCH_SIZE - len(head)) // len(line))
        with smtplib.SMTP(node.host, node.ports["smtp"], timeout=60) as s:
            s.sendmail("bench@remote.test", [FETCH_USER], head + body)
        imap = Imap(node.ports["imap"], host=node.host).login(FETCH_USER, FETCH_PASSWORD)
        try:
            deadline = time.monotonic() + 60
            while b"MESSAGES 1)" not in bytes(imap.command("STATUS INBOX (MESSAGES)")):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the 10 MB message is not in alice's INBOX:\n{node.log()}")
                time.sleep(0.1)
        finally:
            imap.close()

    def cpu(self):
        """{"nodes": s, "slapd": s}: context for each proxy's figures."""
        return {"nodes": sum(n.cpu() for n in self.nodes.values()),
                "slapd": self.directory.cpu()}

    def stop(self):
        for node in self.nodes.values():
            node.stop()
        self.directory.stop()

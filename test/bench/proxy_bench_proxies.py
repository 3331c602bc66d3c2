"""The proxies scripts/bench proxy compares, each in its own folder of the
benchmark's temp dir, on free loopback ports, in front of the same Cluster
(proxy_bench_cluster): each can start, report the CPU seconds and resident
memory of every one of its processes, and stop.

  DovecotProxy  Debian's Dovecot as a login proxy: imap-login and pop3-login
                in "high-performance mode" (a few processes serving many
                connections, as Dovecot recommends for proxies), an LDAP
                passdb that finds the user, verifies the password by binding
                as the user (auth_bind) and answers proxy=y with the host
                made from mailHost; its auth cache on with Postern's TTLs
                (off with --uncached, Dovecot's default).
  NginxProxy    Debian's nginx with libnginx-mod-mail: IMAP, POP3 and SMTP
                servers whose auth_http is proxy_bench_auth.py (the same
                LDAP search and bind, answering the user's node, and the same
                cache of verified logins); its CPU is counted apart from nginx's.
  PosternProxy  postern-proxy with verify_credentials, the nodes' LDAP
                directory settings (routing and verified-login cache:
                positive_ttl 300 s, negative_ttl 30 s) and the two nodes.

Every proxy thus verifies a password at the directory at most once per user
per 300 s, as Postern does by design; --uncached turns the three caches off.
  SocatRelay    socat relaying TCP to node1's IMAP port: the physical
                reference for FETCH throughput.
"""

import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import time

from imap_bench_servers import Dovecot, Server, _accepts, free_port, process_tree_cpu
from proxy_bench_cluster import NODES, PEOPLE, SERVICE_DN, SERVICE_PW, directory_config, \
    node_host, raise_nofile, tree_rss

HERE = os.path.dirname(os.path.abspath(__file__))
# Debian's python3-ldap is installed for Debian's Python, which may not be
# the one running the bench (a pyenv shim, a virtualenv).
# The nodes' user filter (conf/mapping-ldap.json), active accounts only.
PASS_FILTER = ("(&(objectClass=posternAccount)(posternAccountState=active)"
               "(|(mail=%u)(mailAlternateAddress=%u)))")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


class Proxy(Server):
    """A proxy started as one process tree."""

    services = ("imap", "pop3", "smtp")

    def __init__(self, base, label):
        self.label = label
        self.dir = os.path.join(base, label)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, "proxy.log")
        self.ports = {s: free_port() for s in self.services}
        self.port = self.ports[self.services[0]]

    def _spawn(self, cmd):
        self.log_file = open(os.path.join(self.dir, "proxy.out"), "ab")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, preexec_fn=raise_nofile)
        for s in self.services:
            self.port = self.ports[s]
            self.wait_listening()
        self.port = self.ports[self.services[0]]

    def rss(self):
        return tree_rss(self.proc.pid)

    def helper_cpu(self):
        """CPU seconds of a helper counted apart (nginx's auth service)."""
        return 0.0

    def log(self):
        out = super().log()
        try:
            with open(os.path.join(self.dir, "proxy.out"), "rb") as f:
                out += f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            pass
        return out

    def stop(self):
        super().stop()
        if getattr(self, "log_file", None):
            self.log_file.close()


class DovecotProxy(Proxy):
    services = ("imap", "pop3")

    def __init__(self, base, cluster, cache=True):
        super().__init__(base, "dovecot")
        self.cluster = cluster
        self.cache = cache

    @staticmethod
    def version():
        return Dovecot.version()

    def _ldap_conf(self, service):
        node_port = self.cluster.nodes[NODES[0]].ports[service]
        path = os.path.join(self.dir, f"ldap-{service}.conf.ext")
        # mailHost "node<N>" -> 127.0.1.<N>: %4.1{...} is the 5th character.
        with open(path, "w") as f:
            f.write(f"""\
uris = {self.cluster.directory.uri}
dn = {SERVICE_DN}
dnpass = {SERVICE_PW}
auth_bind = yes
base = {PEOPLE}
scope = subtree
pass_filter = {PASS_FILTER}
pass_attrs = =proxy=y, =host=127.0.1.%4.1{{ldap:mailHost}}, =port={node_port}
""")
        os.chmod(path, 0o600)
        return path

    def start(self):
        d = self.dir
        uid, gid = Dovecot.mail_owner()
        os.chmod(os.path.dirname(d), 0o755)  # mkdtemp made it 0700
        user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        login = "".join(f"""
service {s}-login {{
  chroot =
  service_count = 0
  process_min_avail = {os.cpu_count()}
  client_limit = 5000
  inet_listener {s} {{
    address = 127.0.0.1
    port = {self.ports[s]}
  }}
  inet_listener {s}s {{
    port = 0
  }}
}}
""" for s in self.services)
        cache = ("auth_cache_size = 10M\nauth_cache_ttl = 300 s\n"
                 "auth_cache_negative_ttl = 30 s\n") if self.cache else ""
        self.conf = os.path.join(d, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(f"""\
protocols = imap pop3
{cache}
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {self.log_path}
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
login_trusted_networks = 127.0.0.0/8
default_client_limit = 20000
default_vsz_limit = 1G
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {pwd.getpwuid(uid).pw_name}
first_valid_uid = {uid}
first_valid_gid = {gid}
# The node's port differs per protocol: the IMAP passdb for all, a POP3 one
# first for POP3 (whose failure ends there: no second lookup).
passdb {{
  driver = ldap
  args = {self._ldap_conf("imap")}
}}
protocol pop3 {{
  passdb {{
    driver = ldap
    args = {self._ldap_conf("pop3")}
    result_failure = return-fail
  }}
}}
# A proxy never opens a mailbox; Dovecot wants a userdb all the same.
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home
}}
{login}""")
        self._spawn(["dovecot", "-F", "-c", self.conf])


class NginxProxy(Proxy):
    def __init__(self, base, cluster, buffer=None, cache=True):
        super().__init__(base, "nginx" if buffer is None else f"nginx-{buffer}")
        self.cluster = cluster
        self.buffer = buffer
        self.auth_port = free_port()
        self.auth = None
        self.cache = cache

    @staticmethod
    def version():
        r = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
        return r.stderr.strip().split("/")[-1]

    def start(self):
        d = self.dir
        routes = {n: {"host": node_host(n), **{s: self.cluster.nodes[n].ports[s]
                                              for s in ("imap", "pop3", "smtp")}}
                  for n in NODES}
        self.auth_log = open(os.path.join(d, "auth.out"), "ab")
        self.auth = subprocess.Popen(
            [PYTHON, os.path.join(HERE, "proxy_bench_auth.py"), "--port",
             str(self.auth_port), "--ldap", self.cluster.directory.uri, "--routes",
             json.dumps(routes), "--cache-ttl", "300" if self.cache else "0"],
            stdin=subprocess.DEVNULL, stdout=self.auth_log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not _accepts(self.auth_port):
            if self.auth.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the auth service did not start:\n{self.log()}")
            time.sleep(0.05)
        buffer = f"  proxy_buffer {self.buffer};\n" if self.buffer else ""
        self.conf = os.path.join(d, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(f"""\
load_module /usr/lib/nginx/modules/ngx_mail_module.so;
daemon off;
master_process on;
worker_processes {os.cpu_count()};
worker_rlimit_nofile 20000;
pid {d}/nginx.pid;
error_log {self.log_path} warn;
events {{
  worker_connections 10000;
}}
mail {{
  server_name proxy.bench.test;
  auth_http 127.0.0.1:{self.auth_port}/auth;
  proxy_pass_error_message on;
{buffer}  server {{
    listen 127.0.0.1:{self.ports['imap']};
    protocol imap;
  }}
  server {{
    listen 127.0.0.1:{self.ports['pop3']};
    protocol pop3;
  }}
  server {{
    listen 127.0.0.1:{self.ports['smtp']};
    protocol smtp;
    smtp_auth none;
    xclient on;
  }}
}}
""")
        self._spawn(["nginx", "-c", self.conf])

    def helper_cpu(self):
        return process_tree_cpu(self.auth.pid) if self.auth else 0.0

    def log(self):
        out = super().log()
        try:
            with open(os.path.join(self.dir, "auth.out"), "rb") as f:
                out += "\nauth service:\n" + f.read().decode("utf-8", "replace")[-2000:]
        except OSError:
            pass
        return out

    def stop(self):
        super().stop()
        if self.auth is not None:
            self.auth.terminate()
            self.auth.wait()
            self.auth_log.close()


class PosternProxy(Proxy):
    def __init__(self, base, cluster, build, cache=True):
        super().__init__(base, "postern")
        self.cluster = cluster
        self.cache = cache
        self.binary = os.path.join(build, "proxy", "postern-proxy")
        self.admin_port = free_port()

    def version(self):
        return self.binary

    def start(self):
        flow = {"max_connections": 20000, "max_per_ip": 20000}
        listeners = [{"name": s, "protocol": s, "address": f"127.0.0.1:{self.ports[s]}",
                      "tls": "none", "allow_plaintext_auth": True, "flow": flow}
                     for s in self.services]
        config = {
            "proxy": {"name": "bench-proxy", "threads": 0, "verify_credentials": True},
            "listeners": listeners,
            "admin": {"address": f"127.0.0.1:{self.admin_port}"},
            "directory": directory_config(self.cluster.directory.uri, self.cache),
            "smtp": {"hostname": "proxy.bench.test", "local_domains": ["example.com"]},
            "nodes": {n: {s: node.address(s) for s in self.services}
                      for n, node in self.cluster.nodes.items()},
            "log": {"level": "warn"},
        }
        self.conf = os.path.join(self.dir, "proxy.json")
        with open(self.conf, "w") as f:
            json.dump(config, f, indent=2)
        self._spawn([self.binary, "-c", self.conf])


class SocatRelay(Proxy):
    """socat with 64 KiB transfer blocks (-b 65536; its default is 8 KiB),
    as nginx-64k and Postern's default buffer, a process per connection
    (fork), to node1's IMAP listener."""

    services = ("imap",)

    def __init__(self, base, cluster):
        super().__init__(base, "socat")
        self.target = cluster.nodes[NODES[0]].address("imap")

    @staticmethod
    def version():
        r = subprocess.run(["socat", "-V"], capture_output=True, text=True)
        for line in r.stdout.splitlines():
            if "socat version" in line:
                return line.split("version")[1].split()[0]
        return "?"

    def start(self):
        listen = f"TCP4-LISTEN:{self.ports['imap']},bind=127.0.0.1,reuseaddr,fork,backlog=1024"
        self._spawn(["socat", "-b", "65536", listen, f"TCP4:{self.target}"])


def remove(proxy):
    shutil.rmtree(proxy.dir, ignore_errors=True)

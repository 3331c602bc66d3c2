"""Helpers to run Postern's own programs from build/ in integration tests."""

import json
import os
import queue
import shlex
import subprocess
import tempfile
import threading
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD = Path(os.environ.get("POSTERN_BUILD", REPO_ROOT / "build"))
POSTERNCTL = BUILD / "tools" / "posternctl"

EX_OK, EX_NOUSER, EX_TEMPFAIL, EX_NOPERM, EX_CONFIG, EX_USAGE = 0, 67, 75, 77, 78, 64


def ldap_directory(uris, **overrides):
    """A "directory" section for the sample tree, as conf/mapping-ldap.json has it."""
    ldap = {
        "uris": list(uris),
        "bind_dn": "cn=postern,dc=example,dc=com",
        "bind_password": "postern-secret",
        "base_dn": "ou=people,dc=example,dc=com",
        "timeouts": {"connect": 1, "search": 2, "bind": 2},
        "failback_interval": 30,
        "group": {
            "required": "cn=mailusers,ou=groups,dc=example,dc=com",
            "base_dn": "ou=groups,dc=example,dc=com",
        },
    }
    cache = overrides.pop("cache", {"enabled": False})
    for k, v in overrides.items():
        ldap[k] = v
    return {"source": "ldap", "primary_domain": "example.com", "ldap": ldap, "cache": cache}


class ConfigDir:
    """A temp folder holding configuration files for one test."""

    def __init__(self):
        self.path = Path(tempfile.mkdtemp(prefix="postern-conf-"))

    def write(self, name, content):
        p = self.path / name
        if isinstance(content, (dict, list)):
            content = json.dumps(content, indent=2)
        p.write_text(content)
        return str(p)

    def cleanup(self):
        import shutil
        shutil.rmtree(self.path, ignore_errors=True)


def posternctl(config, *args, stdin="", timeout=30):
    """Runs posternctl once; returns CompletedProcess (text)."""
    cmd = [str(POSTERNCTL)]
    if config:
        cmd += ["-c", str(config)]
    cmd += [str(a) for a in args]
    return subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=timeout)


class LookupSession:
    """A long-running `posternctl -c FILE lookup -`: one directory (and its cache)
    kept for the whole session, answering one line per address written."""

    def __init__(self, config):
        self.proc = subprocess.Popen(
            [str(POSTERNCTL), "-c", str(config), "lookup", "-"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, bufsize=1)
        self._lines = queue.Queue()
        self._stderr = []
        threading.Thread(target=self._pump, args=(self.proc.stdout, self._lines.put),
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self._stderr.append),
                         daemon=True).start()

    @staticmethod
    def _pump(stream, sink):
        for line in stream:
            sink(line.rstrip("\n"))

    def lookup(self, address, timeout=15):
        """Returns (status, fields) e.g. ("found", {"node": "node1", ...})."""
        self.proc.stdin.write(address + "\n")
        self.proc.stdin.flush()
        line = self._lines.get(timeout=timeout)
        parts = shlex.split(line)
        fields = {}
        for p in parts[1:]:
            if "=" in p:
                k, v = p.split("=", 1)
                fields[k] = v.strip('"')
        return parts[0], fields

    def stderr(self):
        return "\n".join(self._stderr)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

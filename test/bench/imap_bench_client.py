"""A minimal IMAP client for scripts/bench imap, built to stay out of the way
of the servers it times: it reads the socket in 1 MB chunks and only looks at
the last line received for the tagged completion (no per-line parsing while
the clock runs; callers check the response afterwards).
"""

import re
import socket

CHUNK = 1 << 20


class ImapError(RuntimeError):
    pass


class Imap:
    def __init__(self, port, host="127.0.0.1", timeout=600):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.serial = 0
        self.pending = b""  # bytes received after the last complete response
        self.greeting = self._read_line()
        if not self.greeting.startswith(b"* OK"):
            raise ImapError(f"greeting: {self.greeting!r}")
        self.capabilities = set()

    def close(self):
        try:
            self.command("LOGOUT")
        except (OSError, ImapError):
            pass
        self.sock.close()

    # -- reading -----------------------------------------------------------

    def _read_line(self):
        while b"\r\n" not in self.pending:
            chunk = self.sock.recv(CHUNK)
            if not chunk:
                raise ImapError("connection closed")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\r\n")
        return line

    def _read_tagged(self, tag):
        """(everything up to and including the tagged completion of `tag`,
        that completion line). One growing buffer filled by recv_into, so a
        10 MB response is never copied while the clock runs."""
        prefix = tag + b" "
        buf = bytearray(max(65536, 2 * len(self.pending)))
        total = len(self.pending)
        buf[:total] = self.pending
        self.pending = b""
        view = memoryview(buf)
        while True:
            if total >= 2 and buf[total - 2:total] == b"\r\n":
                tail = bytes(buf[max(0, total - 4096):total])
                start = tail.rfind(b"\r\n", 0, len(tail) - 2)
                if start >= 0 or total == len(tail):
                    line = tail[start + 2:] if start >= 0 else tail
                    if line.startswith(prefix):
                        view.release()
                        del buf[total:]
                        return buf, line
            if len(buf) - total < 16384:
                view.release()
                buf.extend(bytes(len(buf)))
                view = memoryview(buf)
            n = self.sock.recv_into(view[total:], min(CHUNK, len(buf) - total))
            if n == 0:
                raise ImapError("connection closed")
            total += n

    def _new_tag(self):
        self.serial += 1
        return b"B%d" % self.serial

    def command(self, text, ok=True):
        """Sends `text`; returns the whole response (a bytearray). Raises
        unless tagged OK (when `ok`)."""
        tag = self._new_tag()
        self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        data, line = self._read_tagged(tag)
        if ok and not line.startswith(tag + b" OK"):
            raise ImapError(f"{text[:60]!r}: {line.strip()[:300]!r}")
        return data

    # -- commands ----------------------------------------------------------

    def login(self, user, password):
        self.command(f'LOGIN "{user}" "{password}"')
        caps = self.command("CAPABILITY")
        m = re.search(rb"\* CAPABILITY ([^\r\n]*)", caps, re.I)
        self.capabilities = set(m.group(1).upper().split()) if m else set()
        return self

    def select(self, mailbox):
        """SELECT; returns the EXISTS count."""
        data = self.command(f'SELECT "{mailbox}"')
        m = re.search(rb"\* (\d+) EXISTS", data)
        return int(m.group(1)) if m else 0

    def append(self, mailbox, message):
        """One APPEND, waiting for its completion. LITERAL+ when offered."""
        tag = self._new_tag()
        head = b'%s APPEND "%s" ' % (tag, mailbox.encode())
        if b"LITERAL+" in self.capabilities:
            self.sock.sendall(head + b"{%d+}\r\n" % len(message) + message + b"\r\n")
        else:
            self.sock.sendall(head + b"{%d}\r\n" % len(message))
            line = self._read_line()
            while line.startswith(b"* "):
                line = self._read_line()
            if not line.startswith(b"+"):
                raise ImapError(f"APPEND refused: {line[:300]!r}")
            self.sock.sendall(message + b"\r\n")
        data, line = self._read_tagged(tag)
        if not line.startswith(tag + b" OK"):
            raise ImapError(f"APPEND: {line.strip()[:300]!r}")
        return data


def search_hits(data):
    """The number of message numbers in the untagged SEARCH response(s)."""
    hits = 0
    for m in re.finditer(rb"^\* SEARCH([^\r\n]*)", data, re.M):
        hits += len(m.group(1).split())
    return hits


def literal_size(data):
    """The size of the first literal in `data` (a FETCH BODY[] response)."""
    m = re.search(rb"\{(\d+)\}\r\n", data)
    return int(m.group(1)) if m else 0

"""A small raw IMAP client for tests that must see the exact protocol: tagged
and untagged lines, response codes, pipelining. imaplib hides too much."""

import re
import socket
import ssl

_LITERAL = re.compile(rb"\{(\d+)\}\r\n$")


class RawImap:
    def __init__(self, port, host="127.0.0.1", tls_context=None, timeout=20):
        sock = socket.create_connection((host, port), timeout=timeout)
        if tls_context is not None:
            sock = tls_context.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.buf = b""
        self.n = 0
        self.greeting = self.read_response_line()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def read_line(self) -> bytes:
        """One line with its CRLF."""
        while b"\r\n" not in self.buf:
            self._fill()
        i = self.buf.index(b"\r\n") + 2
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read_bytes(self, n) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_response_line(self) -> bytes:
        """One response with any literals it carries inlined, without the final CRLF."""
        out = b""
        while True:
            line = self.read_line()
            out += line
            m = _LITERAL.search(line)
            if not m:
                return out[:-2]
            out += self.read_bytes(int(m.group(1)))

    def tag(self):
        self.n += 1
        return f"T{self.n}"

    def command(self, text, tag=None):
        """Sends `tag text` and returns (untagged responses, tagged line) as str."""
        tag = tag or self.tag()
        self.send(f"{tag} {text}\r\n".encode())
        return self.wait(tag)

    def wait(self, tag):
        untagged = []
        while True:
            line = self.read_response_line().decode("utf-8", "replace")
            if line.startswith(tag + " "):
                return untagged, line
            untagged.append(line)

    def login(self, user, password):
        _, tagged = self.command(f'LOGIN "{user}" "{password}"')
        assert " OK " in tagged, tagged
        return tagged

"""Port helpers for integration tests."""

import socket

# Every port handed out by this process. The kernel may give the same free
# port to two bind(0) calls in a row; two listeners of one fixture would then
# share it (the node and proxy refuse that), and two fixtures would fight
# over it. A port is handed out once per test run.
_given = set()


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on `host` that was free a moment ago and that no
    earlier call returned.

    Binds port 0, reads the port the kernel chose and closes the socket. Another
    process may grab the port before the caller binds it; callers that start a
    server should retry with a new port when the bind fails.
    """
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in _given:
            _given.add(port)
            return port

"""Port helpers for integration tests."""

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port on `host` that was free a moment ago.

    Binds port 0, reads the port the kernel chose and closes the socket. Another
    process may grab the port before the caller binds it; callers that start a
    server should retry with a new port when the bind fails.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]

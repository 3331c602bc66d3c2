r"""An SMTP server that records what it receives, for tests of outgoing mail
(relay between nodes, delivery by MX): aiosmtpd on 127.0.0.1 and a free port.

    from lib.smtp_sink import SmtpSink

    with SmtpSink() as sink:                       # or SmtpSink(tls=(cert, key))
        ... configure a node to deliver to 127.0.0.1:sink.port ...
        sink.rcpt_replies["nobody@example.org"] = "550 5.1.1 no such user"
        msgs = sink.wait_messages(1)
        msgs[0].mail_from, msgs[0].rcpt_tos, msgs[0].data, msgs[0].tls
        sink.stop(); ...; sink.start()             # down, then up on the same port

`rcpt_replies` maps a recipient (lower case) to the reply RCPT gets instead
of 250 ("550 ..." or "451 ..."); `data_reply`, when set, is the reply to the
end of DATA (the message is then not recorded unless it starts with 2).
With `tls=(cert, key)` the server offers STARTTLS (node.test_certificate()
or var/tls/dev.{crt,key} from scripts/dev-cert).
"""

import dataclasses
import ssl
import sys
import threading
import time

try:
    from aiosmtpd.controller import Controller
except ImportError:  # Debian's python3-aiosmtpd under another interpreter (pyenv)
    sys.path.append("/usr/lib/python3/dist-packages")
    from aiosmtpd.controller import Controller

try:
    from .ports import free_port
except ImportError:  # imported as a top-level module
    from ports import free_port  # type: ignore


@dataclasses.dataclass
class SinkMessage:
    mail_from: str
    mail_options: list
    rcpt_tos: list        # the recipients that got 250, in order
    rcpt_options: dict    # recipient -> its RCPT parameters
    data: bytes           # as received, dot-stuffing removed, CRLF line ends
    helo: str
    tls: bool             # received after STARTTLS


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.sink.rcpt_replies.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        if not hasattr(envelope, "sink_rcpt_options"):
            envelope.sink_rcpt_options = {}
        envelope.sink_rcpt_options[address] = list(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self.sink.data_reply
        if reply and not reply.startswith("2"):
            return reply
        msg = SinkMessage(
            mail_from=envelope.mail_from,
            mail_options=list(envelope.mail_options),
            rcpt_tos=list(envelope.rcpt_tos),
            rcpt_options=dict(getattr(envelope, "sink_rcpt_options", {})),
            data=bytes(envelope.original_content or b""),
            helo=session.host_name or "",
            tls=session.ssl is not None,
        )
        with self.sink._cond:
            self.sink.messages.append(msg)
            self.sink._cond.notify_all()
        return reply or "250 2.0.0 OK queued"


class SmtpSink:
    def __init__(self, port=None, tls=None, host="127.0.0.1"):
        self.host = host
        self.port = port or free_port(host)
        self.tls = tls
        self.rcpt_replies = {}
        self.data_reply = None
        self.messages = []
        self._cond = threading.Condition()
        self._controller = None

    def start(self):
        if self._controller is not None:
            return self
        kwargs = {"enable_SMTPUTF8": True}
        if self.tls:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(*self.tls)
            kwargs["tls_context"] = ctx
            kwargs["require_starttls"] = False
        self._controller = Controller(_Handler(self), hostname=self.host, port=self.port,
                                      ready_timeout=10, **kwargs)
        self._controller.start()
        return self

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self):
        return self._controller is not None

    def wait_messages(self, count, timeout=20.0):
        """The first `count` messages, once they are in; AssertionError after
        `timeout` seconds with what did arrive."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"smtp sink: {len(self.messages)} of {count} messages after {timeout}s")
                self._cond.wait(left)
            return list(self.messages[:count])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

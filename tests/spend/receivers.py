"""Live receivers for alert tests: an SMTP server (aiosmtpd) and a webhook endpoint
(http.server in a thread) that verifies every signature independently of our code."""

import hashlib
import hmac
import json
import socket
import threading
import time
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

REPLAY_WINDOW_SECONDS = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Smtp:
    """A real SMTP server on localhost; ``messages`` holds what it accepted."""

    def __init__(self):
        self.messages = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
        return "250 OK"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


class Webhook:
    """A webhook receiver that can go down and come back on the same port.

    It accepts a request only with a valid ``Meterboard-Signature`` (``t=<unix>,v1=<hex>``,
    HMAC-SHA256 of ``"<t>.<body>"`` with the endpoint's secret) whose timestamp is within
    the replay window; ``received`` holds (delivery id, decoded body) of accepted ones.
    """

    def __init__(self, secret: str = ""):
        self.secret = secret
        self.port = free_port()
        self.received: list[tuple[str, dict]] = []
        self.refused: list[str] = []
        self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def verify(self, header: str, body: bytes) -> str | None:
        """Why the signature is refused, or None."""
        parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
        if not parts.get("t", "").isdigit() or "v1" not in parts:
            return "malformed"
        if abs(time.time() - int(parts["t"])) > REPLAY_WINDOW_SECONDS:
            return "outside the replay window"
        expected = hmac.new(
            self.secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        return None if hmac.compare_digest(expected, parts["v1"]) else "bad signature"

    def up(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook
                body = self.rfile.read(int(self.headers["Content-Length"]))
                problem = receiver.verify(self.headers.get("Meterboard-Signature", ""), body)
                if problem:
                    receiver.refused.append(problem)
                    self.send_response(400)
                else:
                    receiver.received.append(
                        (self.headers["Meterboard-Delivery"], json.loads(body))
                    )
                    self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def down(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

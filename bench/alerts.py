"""The ingest-to-alert delay (issue 16): how long after the record that crosses a limit's
threshold is POSTed to the ingest API its alert reaches a webhook, while ingest runs at
1,000 records/s through the live server, its Celery worker and beat (``bench.run.Server``).

The limit counts tokens of one API key that only this step sends, so the record that crosses
it is known in advance: the last of the ``CROSSING_BATCH``-th batch of 1,000. The threshold is
reached only once that whole batch is rolled up, and the evaluation that finds it enqueues the
delivery; the receiver is a live HTTP server in this process that checks the signature.
"""

import datetime as dt
import hashlib
import hmac
import json
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORKSPACE = ("wrkspc_bench_alert", "Alert load")
API_KEY = ("apikey_bench_alert", "alert-load")
BATCH = 1000  # records a second, one batch each
CROSSING_BATCH = 5
FRESHNESS_SECONDS = 60  # the freshness target: rolled up within 60 s of ingest
SLACK_SECONDS = 30  # how long past its target the step waits before it says "not met"


class Receiver:
    """A webhook endpoint on 127.0.0.1: the arrival time (monotonic) and body of each POST
    whose ``Meterboard-Signature`` is valid for ``secret``."""

    def __init__(self, port: int):
        self.port = port
        self.secret = ""
        self.arrivals: list[tuple[float, dict]] = []
        self.refused = 0
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's hook
                at = time.monotonic()
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.valid(self.headers.get("Meterboard-Signature", ""), body):
                    receiver.arrivals.append((at, json.loads(body)))
                    receiver.arrived.set()
                    self.send_response(200)
                else:
                    receiver.refused += 1
                    self.send_response(400)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/alerts"

    def valid(self, header: str, body: bytes) -> bool:
        """HMAC-SHA256 of ``"<t>.<body>"``, computed here, not by the code under test."""
        parts = dict(item.split("=", 1) for item in header.split(",") if "=" in item)
        if not parts.get("t", "").isdigit():
            return False
        signed = parts["t"].encode() + b"." + body
        expected = hmac.new(self.secret.encode(), signed, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts.get("v1", ""))

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def step_alert_delay(table, secret: str, port: int, receiver_port: int) -> None:
    """Create a token limit with a 100 % threshold alerting a live webhook, send 1,000
    records/s until the webhook has the alert (or its target has long passed), and add the
    delay from the crossing record's POST to the webhook's arrival to ``table``."""
    from django.conf import settings

    from bench import run
    from console.models import ApiKey, Organization, Workspace
    from spend import services

    interval = settings.SPEND_EVALUATION_INTERVAL_SECONDS
    target = FRESHNESS_SECONDS + interval
    org = Organization.objects.get(slug=run.ORG)
    # Registered before any record names them, so the limit can be on the key; ingest finds
    # them by their external ids.
    workspace = Workspace.objects.create(org=org, external_id=WORKSPACE[0], name=WORKSPACE[1])
    key = ApiKey.objects.create(
        org=org, workspace=workspace, external_id=API_KEY[0], name=API_KEY[1]
    )
    template = dict(
        run.TEMPLATE,
        workspace_id=WORKSPACE[0],
        workspace_name=WORKSPACE[1],
        api_key_id=API_KEY[0],
        api_key_name=API_KEY[1],
    )
    tokens_per_record = sum(template["usage"].values())
    amount = tokens_per_record * BATCH * CROSSING_BATCH

    with Receiver(receiver_port) as receiver:
        endpoint = services.create_endpoint(org, name="bench", url=receiver.url, slack=False)
        receiver.secret = endpoint.secret
        limit = services.create_limit(
            org,
            None,
            name="bench alert delay",
            api_key=key,
            unit="tokens",
            amount=amount,
            # A month in UTC: the run never straddles its boundary in practice, a day might.
            period="month",
            time_zone="UTC",
            thresholds=[100],
            emails=[],
            endpoints=[endpoint],
        )
        sent_at: list[float] = []
        stop = time.monotonic() + CROSSING_BATCH + target + SLACK_SECONDS
        tick = time.monotonic()
        while not receiver.arrived.is_set() and tick < stop:
            sent_at.append(time.monotonic())
            run.post(port, secret, run.make_batch(BATCH, dt.datetime.now(dt.UTC), template))
            tick += 1.0
            receiver.arrived.wait(max(0.0, tick - time.monotonic()))
        receiver.arrived.wait(max(0.0, stop - time.monotonic()))

    ours = [(at, body) for at, body in receiver.arrivals if body["limit"]["id"] == limit.pk]
    if len(sent_at) < CROSSING_BATCH or not ours:
        table.add(
            f"ingest-to-alert delay at {BATCH:,} records/s (webhook)",
            f"no alert within {target + SLACK_SECONDS} s"
            + (f" ({receiver.refused} refused signatures)" if receiver.refused else ""),
            f"evaluation every {interval} s",
            "",
            f"<= {FRESHNESS_SECONDS} s + {interval} s",
            run.yes(False),
        )
        return
    arrival, body = ours[0]
    # Rolled up in sweeps, the batches after the crossing one may be counted too: the alert
    # says at least the limit, once.
    run.check(
        len(ours) == 1 and Decimal(body["spend"]) >= amount,
        f"the alert webhook got {len(ours)} alerts, the first at {body['spend']} tokens; "
        f"the limit is {amount:,}",
    )
    delay = arrival - sent_at[CROSSING_BATCH - 1]
    rate = len(sent_at) * BATCH / (sent_at[-1] - sent_at[0] + 1)
    table.add(
        f"ingest-to-alert delay at {rate:,.0f} records/s (POST of the crossing record to the "
        "signed webhook's arrival)",
        f"{delay:.1f} s",
        f"evaluation every {interval} s, rollup every {settings.ROLLUP_INTERVAL_SECONDS} s",
        "",
        f"<= {FRESHNESS_SECONDS} s + {interval} s",
        run.yes(delay <= target),
    )

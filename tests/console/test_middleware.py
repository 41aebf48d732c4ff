import re


def test_every_response_reports_its_server_time(client, db):
    response = client.get("/accounts/login/")

    assert re.fullmatch(r"app;dur=\d+\.\d", response.headers["Server-Timing"])

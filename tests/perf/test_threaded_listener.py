"""The threaded listener (granian's WSGI worker): idle keep-alive clients never lock others out."""

from __future__ import annotations

import http.client

from tests.helpers.servers import TesseraServer


def test_more_open_connections_than_threads_are_all_served() -> None:
    """granian's backpressure bounds open connections: it must not be the (small) thread count."""
    with TesseraServer(env={"TESSERA_HTTP_THREADS": "2"}) as server:
        conns = []
        try:
            for _ in range(40):
                conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
                conn.request("GET", "/v1/sys/health")
                response = conn.getresponse()
                response.read()
                assert response.status == 200
                conns.append(conn)  # kept open (keep-alive) while the next one connects
            for conn in conns:  # and every one of them is still served
                conn.request("GET", "/v1/auth/token/lookup-self", headers={"X-Vault-Token": "root"})
                response = conn.getresponse()
                response.read()
                assert response.status == 200
        finally:
            for conn in conns:
                conn.close()

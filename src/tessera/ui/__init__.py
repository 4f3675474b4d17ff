"""The web UI: static pages served under ``/ui/`` that talk to the server only through its HTTP API."""

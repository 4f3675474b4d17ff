"""The server process: configuration, listeners, the ASGI app and dev mode."""

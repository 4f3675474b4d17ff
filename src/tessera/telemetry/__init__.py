"""Telemetry: Vault's metrics (names, labels, units), served by ``sys/metrics``.

``metrics.py`` declares the metrics and records them (cheaply: a lock and two additions per
observation); ``exposition.py`` renders them in Prometheus text (with ``prometheus_client``) and
in Vault's in-memory-sink JSON; ``config.py`` reads the ``telemetry`` stanza; ``usage.py`` counts
tokens and leases for the usage gauges.
"""

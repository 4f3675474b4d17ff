"""Go compatibility: values printed and parsed exactly as Go's standard library does.

Vault is written in Go, so its answers and error texts carry Go's JSON encoding, ``%q`` quoting,
``time.Duration`` and RFC 3339 renderings and Go type names. Each of those lives here once. This
package is the bottom layer: it imports nothing from tessera.
"""

"""TLS settings, certificate watching and reloading, and peer identity from certificates.

Imports `cello._errors` only, so every other package may use it.
"""

"""The `envoy` transport: Envoy terminates every connection, the app runs behind it.

`server.py` runs Envoy and the in-process app, `bootstrap.py` writes Envoy's hardened
configuration, `app.py` restores the client's address and certificate in the ASGI scope.
"""

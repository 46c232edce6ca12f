"""What users write: the service base and `@grpc_method`, the type markers, `GrpcConfig`
and the call envelopes.

Imports `cello._errors` and `cello._security` only (a config holds a `TlsConfig`, an
envelope a `PeerIdentity`).
"""

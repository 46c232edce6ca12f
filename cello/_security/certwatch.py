"""`CertificateWatcher`: hands a `TlsConfig`'s certificate to both ports and reloads it."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import tempfile
from collections.abc import Callable
from pathlib import Path

import grpc

from .._errors import TlsError
from .tls import Pem, TlsConfig

logger = logging.getLogger("cello.tls")

Signature = tuple[tuple[int, int, int], ...]


class CertificateWatcher:
    """The certificate a TLS server presents now, reloaded when its files change.

    The gRPC port asks for it at each new handshake (grpcio's dynamic credentials); the
    gRPC-Web port's `ssl.SSLContext` is loaded with it in place. Connections already open
    keep the certificate they shook hands with, so in-flight calls are not disturbed.
    A new certificate that fails the checks (e.g. the key written before the certificate)
    is not served: the current one stays, and the next change is tried again.
    """

    def __init__(self, config: TlsConfig) -> None:
        self.config = config
        self._served: tuple[int, Pem] = (0, config.load())
        self._given_to_grpc = 0
        self._signature = _signature(config.files)
        self._refused: Signature | None = None
        self._contexts: list[ssl.SSLContext] = []
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[Pem], None]] = []

    @property
    def pem(self) -> Pem:
        """The certificate material served now."""
        return self._served[1]

    @property
    def generation(self) -> int:
        """How many times a new certificate was loaded (0: the first one)."""
        return self._served[0]

    def grpc_credentials(self) -> grpc.ServerCredentials:
        """Server credentials for the gRPC port that follow every reload."""
        return grpc.dynamic_ssl_server_credentials(
            _grpc_certificates(self.pem),
            self._fetch,  # type: ignore[arg-type]  # None means "unchanged" (grpc's docs)
            require_client_authentication=self.config.require_client_cert,
        )

    def ssl_context(self, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
        """A server `SSLContext` (for an HTTP port) kept loaded with the current cert.

        Args:
            alpn: the protocols offered by ALPN, preferred first.
        """
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(list(alpn))
        _load_into(context, self.pem)
        if self.config.require_client_cert:
            context.verify_mode = ssl.CERT_REQUIRED
        self._contexts.append(context)
        return context

    def on_reload(self, listener: Callable[[Pem], None]) -> None:
        """Call `listener(pem)` after each reload that serves a new certificate (a server
        outside this process, Envoy, is handed the new material this way)."""
        self._listeners.append(listener)

    def reload(self, *, force: bool = True) -> bool:
        """Load the files again if they changed (always, with `force`).

        Returns:
            True when a new certificate is served from now on.
        """
        signature = _signature(self.config.files)
        if not force and (signature == self._signature or signature == self._refused):
            return False
        try:
            pem = self.config.load()
        except TlsError as exc:
            if signature != self._refused:
                logger.error("TLS reload refused, still serving the previous certificate: %s", exc)
            self._refused = signature
            return False
        self._signature, self._refused = signature, None
        if pem == self.pem:
            return False
        for context in self._contexts:
            _load_into(context, pem)
        self._served = (self.generation + 1, pem)
        for listener in self._listeners:
            listener(pem)
        logger.info(
            "TLS certificate reloaded (valid until %s UTC)", f"{pem.not_after:%Y-%m-%d %H:%M}"
        )
        return True

    def start(self) -> None:
        """Poll the files every `reload_interval_secs` (if set) on the running loop."""
        interval = self.config.reload_interval_secs
        if interval is not None and self.config.files and self._task is None:
            self._task = asyncio.create_task(self._poll(interval), name="cello-tls-reload")

    async def stop(self) -> None:
        """Stop polling."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _poll(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.reload(force=False)
            except Exception:  # a watcher must outlive any surprise; the cert stays served
                logger.exception("TLS reload failed")

    def _fetch(self) -> grpc.ServerCertificateConfiguration | None:
        # Called by grpc core on its own threads at each handshake: only reads.
        generation, pem = self._served
        if generation == self._given_to_grpc:
            return None
        self._given_to_grpc = generation
        return _grpc_certificates(pem)


def _grpc_certificates(pem: Pem) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(pem.private_key, pem.cert_chain)], root_certificates=pem.client_ca
    )


def _load_into(context: ssl.SSLContext, pem: Pem) -> None:
    """Load the PEM material into `context` (`ssl` only reads certificate chains from files)."""
    with tempfile.TemporaryDirectory(prefix="cello-tls-") as folder:  # mode 0700
        cert, key = Path(folder) / "chain.pem", Path(folder) / "key.pem"
        cert.write_bytes(pem.cert_chain)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(pem.private_key)
        context.load_cert_chain(cert, key)
    if pem.client_ca is not None:
        # The store only grows: a CA dropped from the file stays trusted until restart.
        context.load_verify_locations(cadata=pem.client_ca.decode("ascii"))


def _signature(files: tuple[Path, ...]) -> Signature:
    """What changes when a file is rewritten or replaced (mtime, size, inode)."""
    marks = []
    for path in files:
        try:
            st = path.stat()
        except OSError:
            marks.append((-1, -1, -1))
        else:
            marks.append((st.st_mtime_ns, st.st_size, st.st_ino))
    return tuple(marks)

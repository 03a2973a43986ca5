"""TLS with the directory: certificates and host names checked by Python's ssl."""

from __future__ import annotations

import ssl

from ldap3 import Connection, Tls

from labgate.auth.ldap.config import LdapConfig


class CheckedTls(Tls):
    """TLS whose certificate and host name Python's ssl checks, as for HTTPS: ldap3's
    own host name check uses ``ssl.match_hostname``, which Python 3.12 removed (and its
    fallback ignores IP addresses in certificates)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(validate=context.verify_mode)
        self.context = context

    def wrap_socket(self, connection: Connection, do_handshake: bool = False) -> None:
        connection.socket = self.context.wrap_socket(
            connection.socket,
            server_side=False,
            do_handshake_on_connect=do_handshake,
            server_hostname=connection.server.host,
        )


def tls_context(config: LdapConfig) -> ssl.SSLContext:
    """Certificates checked against ``ca_file`` (else the system's CAs), and the host
    name against the certificate; neither with ``tls_verify = false``."""
    context = ssl.create_default_context(cafile=str(config.ca_file) if config.ca_file else None)
    if not config.tls_verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context

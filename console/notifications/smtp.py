"""Django's SMTP email backend, with every connection checked by the egress policy.

`EMAIL_URL=smtp://...` selects this backend (see settings): the SMTP host is resolved once, each
address it resolves to is checked, and the socket goes to a checked address; STARTTLS and
SMTPS still verify the certificate against the host name.
"""

from __future__ import annotations

import smtplib
import socket
from typing import Any

from django.core.mail.backends.smtp import EmailBackend as DjangoEmailBackend

from console import egress


class _CheckedSocket:
    """Mixin for smtplib classes: `_get_socket` connects only to checked addresses."""

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        addresses = egress.current().resolve(host, port)
        for index, address in enumerate(addresses):
            try:
                return super()._get_socket(address, port, timeout)  # type: ignore[misc]
            except OSError:
                if index + 1 == len(addresses):
                    raise
        raise OSError(f"{host} resolved to no address")  # unreachable: resolve() never is empty


class CheckedSMTP(_CheckedSocket, smtplib.SMTP):
    """smtplib.SMTP under the egress policy (STARTTLS verifies against `self._host`)."""


class CheckedSMTPSSL(_CheckedSocket, smtplib.SMTP_SSL):
    """smtplib.SMTP_SSL under the egress policy (wraps the socket for `self._host`)."""


class EmailBackend(DjangoEmailBackend):
    """Django's SMTP backend with connections through the egress policy."""

    @property
    def connection_class(self) -> Any:
        return CheckedSMTPSSL if self.use_ssl else CheckedSMTP

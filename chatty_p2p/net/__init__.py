"""The network shells: the only place for sockets and TLS.

Certificates pinned by fingerprint (``tls``), TLS through memory BIOs and kernel TLS
(``tlspipe``, ``ktls``), the control connection around the sans-IO session
(``connection``), the bulk connection file transfers use (``bulk``), the listening
socket and its accept loop (``listening``), caps on strangers (``admission``),
interfaces and their changes (``netif``), mDNS (``discovery``), ``host:port``
(``addresses``) and giving memory back (``memory``).
"""

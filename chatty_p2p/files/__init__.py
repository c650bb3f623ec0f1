"""File transfer, in parts a newcomer finds by name.

* ``model``: a transfer as the faces show it (``TransferInfo``), its states.
* ``manager``: ``FileTransfers``, every transfer of one node on the event loop:
  offers, consent, resumes, progress, the states both sides agree on.
* ``manifest``: what a sender offers, read from its files and folders.
* the bulk connection both sides use (dial, answer, frames, time) is ``net.bulk``.
* ``sending`` and ``receiving``: the loops that stream and land files, in threads.
* ``landing``: the download folder as an incoming transfer sees it (partials,
  their ranges, safe final names).

The bytes move in ``sending`` and ``receiving``; the protocol they speak is
``protocol.bulk``, which does no I/O.
"""

"""The bulk channel: one transfer's manifest and file bytes, on a connection of its own.

Why a separate connection: file data must never delay chat. The control
session carries only the small OFFER/ANSWER/CANCEL frames; each accepted
transfer opens its own TLS connection (preamble kind ``BULK``), which the
shell drives with blocking sockets in a thread, fast and without touching the
event loop.

The receiver dials and asks, the sender answers, in phases::

    receiver  OPEN {id, manifest}
    sender    ENTRIES {entries: [[path, kind, size, mtime], ...]} ... ENTRIES_END
              (only when the receiver asked for the manifest)
    receiver  WANT {files: [[index, offset], ...]} ... WANT_END
    sender    for each wanted file, in the order asked:
                  FILE {index, offset}  DATA (raw bytes) ...  FILE_END {hash}
              END
    receiver  (from before WANT on, about once a second) LANDED {done, files}
    receiver  RESULT {failed: [[index, reason], ...]}

Each side's phases, and the frames it takes in each, are the ``SENDER_RULES`` and
``RECEIVER_RULES`` tables in ``wire``, checked before anything else: a frame outside
them is out of order (``RemoteProtocolError`` ``order``). The receiver's phases
follow the pieces it asked for, so the table also says that FILE comes only while
a piece is due, FILE_END only once its bytes are all in, END only after the last.
The fields are checked after that: every number against the offer and manifest.

Either side may end the exchange with ERROR {code, message}. A receiver that
cannot write (``DISK_FULL``, ``UNWRITABLE``) or a sender that cannot read
(``UNREADABLE``: a drive unplugged, a file moved) sends one of the
``RESUMABLE`` codes: its user can fix that, and both sides then keep the
transfer, paused, for ``chatty resume``; any other code ends it.

Neither side may stay silent for long (see ``net.bulk.BULK_TIMEOUT``), yet
some work moves no bytes. LANDED is how the receiver says it is alive while it
hashes the bytes a resume already has (before WANT) and while it lands what was
sent: writing and naming a folder of 100,000 empty files takes longer than the
silence allowed, and most of it happens after the sender's last byte. The
sender reads LANDED frames as it streams (without waiting for them), so they
never pile up, and learns of an ERROR within a moment rather than from a broken
pipe. While the sender hashes what the receiver already has, it sends empty
DATA frames, which change nothing.

Each side's socket is used by one thread at a time. Resuming is the same
exchange with non-zero offsets: the receiver asks only for what it lacks. The
hash in FILE_END covers the whole file, not just the bytes sent this time.

Lanes (protocol 3): a large file can travel in ranges over up to ``MAX_LANES``
connections at once, when both sides said in HELLO that they have the cores for
it (one stream keeps about a core busy on each side). The main connection's WANT
lists every piece, each tagged with its lane; the receiver then dials one more
connection per extra lane, whose OPEN names the lane (and the try, which the
main connection's OPEN named too: a lane only joins its own try) and goes straight to
streaming the pieces WANT gave it: the sender checked them all once, against one
manifest, and no piece is asked for twice. Each range's FILE_END hash covers that
range alone, because BLAKE3 cannot combine the hashes of parts: the receiver
checks each range, and the file is verified when all its ranges are. A resume
continues each range where it stopped. A lane ends with END and RESULT; the main
connection's RESULT comes last, once every lane has landed, and a lane that fails
stops the main connection, so the transfer ends one way on both sides.

Frames reuse ``frames``' layout with their own type numbers. Every number a
peer sends is checked against the manifest, so a sender cannot push more
bytes than the receiver consented to, or into a file it did not ask for.

The package is cut where the two sides meet: ``wire`` holds what both share (the
frame types, the manifest entries and pieces, the events, the phases and both rules
tables, the stream decoder), ``sender`` the sender's state machine (``BulkSender``)
and ``receiver`` the receiver's (``BulkReceiver``). Neither side imports the other,
and a caller imports the side it plays.
"""

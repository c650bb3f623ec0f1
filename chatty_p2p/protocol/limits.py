"""How fast a peer may talk on a control session, as token buckets.

Why both directions use the same numbers: a receiver drops a peer that
exceeds them, so a well-behaved sender must never do so, even when it flushes
a thousand queued messages after a week offline. The session therefore paces
what it sends with a budget slightly below the one it enforces on what it
receives (``Budget.outgoing``). Time is passed in, never read here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chatty_p2p.protocol.frames import FrameType

COSTLY = frozenset(
    {
        FrameType.MESSAGE,
        FrameType.PROFILE,
        FrameType.OFFER,
        FrameType.ANSWER,
        FrameType.CANCEL,
        FrameType.RESUME,
        FrameType.ENDED,
        FrameType.PAIR,
    }
)
"""Frames that make the receiver store something or ask its user. They also keep
their order among themselves, so a CANCEL never overtakes its OFFER."""

COSTLY_BURST, COSTLY_RATE = 1000, 100.0
"""Costly frames: a burst of 1,000, then 100 a second."""
FRAME_BURST, FRAME_RATE = 4000, 1000.0
"""All frames, cheap ones (pings, receipts) included."""
BYTE_BURST, BYTE_RATE = 32 * 1024 * 1024, 16 * 1024 * 1024
"""Control-session bytes: file data never travels here, so 16 MiB/s is plenty."""
_OUTGOING_SHARE = 0.9
"""A sender keeps this share of each budget, so clock skew never trips the receiver."""


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float = field(init=False)
    stamp: float | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if self.stamp is not None:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self, now: float, amount: float) -> float:
        """Seconds until ``amount`` tokens are there (0 if they are now)."""
        self._refill(now)
        return max(0.0, (min(amount, self.burst) - self.tokens) / self.rate)

    def take(self, now: float, amount: float) -> None:
        self._refill(now)
        self.tokens -= amount


class Budget:
    """The three buckets a frame draws from: costly frames, all frames, bytes."""

    def __init__(self, share: float = 1.0) -> None:
        self._costly = TokenBucket(COSTLY_RATE * share, COSTLY_BURST * share)
        self._frames = TokenBucket(FRAME_RATE * share, FRAME_BURST * share)
        self._bytes = TokenBucket(BYTE_RATE * share, BYTE_BURST * share)

    @classmethod
    def outgoing(cls) -> Budget:
        return cls(_OUTGOING_SHARE)

    def _buckets(self, frame_type: int, size: int) -> list[tuple[TokenBucket, float]]:
        wanted = [(self._frames, 1.0), (self._bytes, float(size))]
        if frame_type in COSTLY:
            wanted.append((self._costly, 1.0))
        return wanted

    def wait(self, now: float, frame_type: int, size: int) -> float:
        """Seconds until a frame of this type and size fits the budget."""
        return max(bucket.wait(now, amount) for bucket, amount in self._buckets(frame_type, size))

    def take(self, now: float, frame_type: int, size: int) -> None:
        for bucket, amount in self._buckets(frame_type, size):
            bucket.take(now, amount)

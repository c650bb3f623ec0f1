"""Clocks: when another device's clock is far enough off to tell its user.

Message times come from the sender's clock, so a peer whose clock is hours off
shows messages at the wrong time; the node (from HELLO) and ``chatty doctor``
(from an advert) both say so, in the same words.
"""

from __future__ import annotations

CLOCK_WARN = 120.0
"""Clock difference (seconds) worth telling the user about; less is network delay."""


def clock_advice(name: str, skew: float) -> str:
    minutes = abs(skew) / 60
    amount = f"{minutes / 60:.1f} hours" if minutes >= 90 else f"{minutes:.0f} minutes"
    return (
        f"{name}'s clock is {amount} {'ahead of' if skew > 0 else 'behind'} this one: "
        "message times will look wrong. Turn on automatic time (NTP) on both."
    )

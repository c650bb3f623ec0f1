"""Chatty as a citizen of the Linux desktop: a launcher and an icon, an autostart entry,
"Send with Chatty…" in the file managers (Nautilus, Nemo, Dolphin, Thunar) and a
systemd user unit, written by ``chatty desktop install`` (``install``) from the texts
in ``entries``. It imports nothing of the node: it writes files, and the command it
writes into them is the one that starts this Chatty."""

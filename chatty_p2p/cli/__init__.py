"""The ``chatty`` command: a thin face over the node.

Its modules, and the one way their imports go::

    entry ──> parser ──> args                        (every run: nothing heavy)
      ┆
      └┄┄> node, chat, files, trust, share, doctor    (the command that runs)
              └──> backend, events, output, terminal ──> the core

``entry`` parses (``parser``, with ``args`` checking values) and runs the command;
``parser`` names each command's function, whose module is imported only when it
runs (``parser.later``), so ``chatty --version`` or ``chatty say`` through a daemon
never pays for the transfer stack. The command modules share ``backend`` (reaching
a node: the daemon's through the control socket, or one of their own), ``events``
(a node event as one line), ``output`` (what they print) and ``terminal`` (what the
user types); none of these imports a command module, nor a command module another.
"""

from chatty_p2p.cli.entry import main

__all__ = ["main"]

"""``chatty desktop install`` and ``uninstall``: Chatty in the desktop's menus, its
autostart and its file managers (``chatty_p2p.desktop``), for the current user."""

from __future__ import annotations

import argparse

from chatty_p2p.desktop import install


async def cmd_desktop(args: argparse.Namespace) -> int:
    if args.action == "install":
        outcome = install.install(autostart=args.autostart, service=args.service)
        heading = "Installed for this user:"
    else:
        outcome = install.uninstall()
        heading = "Removed:" if outcome.done else "Nothing of Chatty's was installed."
    print(heading)
    for line in outcome.done:
        print(f"  {line}")
    for line in outcome.warnings:
        print(f"  warning: {line}")
    if args.action == "install" and args.service:
        print("Start the headless service with: systemctl --user enable --now chatty")
    return 0

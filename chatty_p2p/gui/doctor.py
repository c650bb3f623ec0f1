""" "Why can't I see my peer?": the doctor's findings in a window.

The checks (``chatty_p2p.doctor``) run on the node's loop, which owns the
network; this dialog only asks for them and renders the report, so a three
second mDNS look never freezes the window.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QDialog, QHBoxLayout, QPushButton, QTextBrowser, QVBoxLayout, QWidget

from chatty_p2p.doctor import Report, diagnose
from chatty_p2p.gui.bridge import NodeBridge
from chatty_p2p.gui.theme import Inks, theme
from chatty_p2p.node import Node

LISTEN_SECONDS = 3.0
LABELS = {"ok": "OK", "warn": "Warning", "problem": "Problem"}


async def _diagnose(node: Node) -> Report:
    return await diagnose(
        node.port,
        listen_seconds=LISTEN_SECONDS,
        interfaces=node.interfaces,
        daemon_peers=[p.to_dict() for p in node.peers()],
        device=node.describe(),
    )


def report_html(report: Report, inks: Inks) -> str:
    """The findings by topic, each level in its colour on the report's background."""
    colours = {"ok": inks.trusted, "warn": inks.unverified, "problem": inks.blocked}
    parts = []
    for heading, findings in report.by_topic():
        parts.append(f"<h3>{html.escape(heading)}</h3>")
        for f in findings:
            tag = f'<b style="color:{colours[f.level].name()}">{LABELS[f.level]}</b>'
            parts.append(f"<p>{tag} <b>{html.escape(f.title)}</b>")
            if f.detail:
                parts.append(f"<br>{html.escape(f.detail)}")
            if f.fix:
                fixes = "<br>".join(html.escape(line) for line in f.fix.splitlines())
                parts.append(f"<br><i>Fix:</i> <code>{fixes}</code>")
            parts.append("</p>")
    problems = len(report.problems)
    verdict = (
        f"{problems} problem{'s' if problems != 1 else ''} found: see the fixes."
        if problems
        else "No problem found on this machine."
    )
    return f"<p><b>{verdict}</b></p>" + "".join(parts)


class DoctorDialog(QDialog):
    def __init__(self, bridge: NodeBridge, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Why can't I see my peer?")
        self.resize(640, 560)
        self.bridge = bridge
        self.report: Report | None = None
        self.view = QTextBrowser()
        self.view.setOpenExternalLinks(False)
        self.again = QPushButton("Check again")
        self.again.clicked.connect(self.check)
        close = QPushButton("Close")
        close.clicked.connect(self.accept)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.again)
        buttons.addWidget(close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view)
        layout.addLayout(buttons)
        self.check()

    def check(self) -> None:
        self.again.setEnabled(False)
        self.view.setHtml(
            f"<p>Checking this machine's network and listening for other Chatty devices for "
            f"{LISTEN_SECONDS:.0f} seconds…</p>"
        )
        self.bridge.call(_diagnose, self._show, self._failed)

    def _show(self, report: Report) -> None:
        self.report = report
        # The dialog's palette, not the view's: on a palette change the dialog hears of
        # it before its children are given the new one.
        self.view.setHtml(report_html(report, theme(self.palette()).page))
        self.again.setEnabled(True)

    def changeEvent(self, event: QEvent) -> None:
        """The system went dark (or light): the findings again, in the new colours."""
        if event.type() == QEvent.Type.PaletteChange and self.report is not None:
            self._show(self.report)
        super().changeEvent(event)

    def _failed(self, text: str) -> None:
        self.view.setHtml(f"<p>The checks could not run: {html.escape(text)}</p>")
        self.again.setEnabled(True)

"""The one page ``chatty share`` serves to a browser, and its response.

Everything is in this string: no external assets (the phone may have no other
network than this LAN) and no framework. The script uses ``fetch`` for the
consent round trips and ``XMLHttpRequest`` for the body, the only browser API
that reports upload progress; the body is the raw file, not multipart, so the
server writes it as it arrives. Names are inserted escaped, and the script runs
only with the per-response nonce of the Content-Security-Policy.
"""

from __future__ import annotations

import html
import secrets
import time
from string import Template

from chatty_p2p.share.exchange import Exchange

_PAGE = Template("""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Files from $host</title>
<style nonce="$nonce">
body { font: 16px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 40rem; padding: 1rem;
       color: #1d1d1f; background: #fafafa; }
h1 { font-size: 1.4rem; margin: 0 0 .5rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
.warn { background: #fff4d6; border-left: 4px solid #d9a300; padding: .5rem .75rem; }
ul { list-style: none; padding: 0; margin: 0; }
li { display: flex; justify-content: space-between; gap: 1rem; padding: .6rem 0;
     border-bottom: 1px solid #e3e3e3; overflow-wrap: anywhere; }
a { color: #0b57d0; font-weight: 600; }
.meta, .state { color: #555; white-space: nowrap; }
.done { color: #137333; } .declined, .failed { color: #b3261e; }
button { font: inherit; padding: .5rem 1.25rem; margin-top: .5rem; }
input { font: inherit; max-width: 100%; }
</style>
</head>
<body data-base="$base">
<h1>Files from $host</h1>
<p class="warn">This page is not encrypted: anyone on this network who learns its address can
use it. It stops working when $host stops sharing, in $minutes min at the latest.</p>
<h2>Download</h2>
<ul id="shared">
$items</ul>
$upload
</body>
</html>
""")

_ITEM = Template(
    '<li><a href="${base}f/$index" download>$name</a><span class="meta">$detail</span></li>\n'
)

_UPLOAD = Template("""<h2>Send files to $host</h2>
<p>Each file waits until someone at $host accepts it.</p>
<input type="file" id="files" multiple>
<button type="button" id="send">Send</button>
<ul id="uploads"></ul>
<script nonce="$nonce">
"use strict";
const base = document.body.dataset.base;
const list = document.getElementById("uploads");
const queue = [];
let running = 0;

document.getElementById("send").addEventListener("click", function () {
  const input = document.getElementById("files");
  for (const file of input.files) queue.push({file: file, state: row(file.name)});
  input.value = "";
  pump();
});

function pump() {
  while (running < 3 && queue.length) {
    const job = queue.shift();
    running += 1;
    upload(job.file, job.state).finally(function () { running -= 1; pump(); });
  }
}

function row(name) {
  const item = document.createElement("li");
  const label = document.createElement("span");
  const state = document.createElement("span");
  label.textContent = name;
  state.className = "state";
  state.textContent = "queued";
  item.append(label, state);
  list.append(item);
  return state;
}

function show(state, word, reason) {
  state.className = "state " + word;
  state.textContent = reason ? word + " (" + reason + ")" : word;
}

async function ask(url, options) {
  const response = await fetch(url, options);
  let body = {};
  try { body = await response.json(); } catch (error) { body = {}; }
  return {status: response.status, body: body};
}

function put(url, file, state) {
  return new Promise(function (resolve, reject) {
    const request = new XMLHttpRequest();
    request.open("PUT", url);
    request.upload.onprogress = function (event) {
      if (event.lengthComputable && event.total) {
        state.textContent = "sending " + Math.floor(100 * event.loaded / event.total) + "%";
      }
    };
    request.onload = function () {
      let reason = "HTTP " + request.status;
      try { reason = JSON.parse(request.responseText).reason || reason; } catch (error) {}
      request.status === 200 ? resolve() : reject(new Error(reason));
    };
    request.onerror = function () { reject(new Error("the connection broke")); };
    request.send(file);
  });
}

async function upload(file, state) {
  try {
    state.textContent = "waiting for consent…";
    const offer = {method: "POST", headers: {"Content-Type": "application/json"},
                   body: JSON.stringify({name: file.name, size: file.size})};
    let answer = await ask(base + "offer", offer);
    while (answer.body.state === "pending") answer = await ask(base + "offer/" + answer.body.id);
    if (answer.body.state === "declined") return show(state, "declined", answer.body.reason);
    if (answer.body.state !== "accepted") {
      return show(state, "failed", answer.body.reason || "HTTP " + answer.status);
    }
    state.textContent = "sending…";
    await put(base + "upload/" + answer.body.id, file, state);
    show(state, "done");
  } catch (error) {
    const gone = error instanceof TypeError;
    show(state, "failed", gone ? "the sharing computer cannot be reached" : error.message);
  }
}
</script>
""")


def render(
    *,
    base: str,
    host: str,
    items: list[tuple[str, str]],
    uploads: bool,
    minutes: int,
    nonce: str,
) -> str:
    """The page; ``items`` are (download name, detail) in index order, ``base`` the
    token's path (``/TOKEN/``), ``nonce`` the one in this response's CSP."""
    host = html.escape(host)
    rows = "".join(
        _ITEM.substitute(base=base, index=i, name=html.escape(name), detail=html.escape(detail))
        for i, (name, detail) in enumerate(items)
    )
    upload = _UPLOAD.substitute(host=host, nonce=nonce) if uploads else ""
    return _PAGE.substitute(
        host=host, nonce=nonce, base=base, minutes=minutes, items=rows, upload=upload
    )


async def send_page(
    exchange: Exchange,
    *,
    base: str,
    host: str,
    items: list[tuple[str, str]],
    uploads: bool,
    expires_at: float,
) -> None:
    """The page as a response, with a fresh nonce in its Content-Security-Policy;
    ``expires_at`` is the ``time.time()`` at which the share ends."""
    nonce = secrets.token_urlsafe(16)
    page = render(
        base=base,
        host=host,
        items=items,
        uploads=uploads,
        minutes=max(1, round((expires_at - time.time()) / 60)),
        nonce=nonce,
    )
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
    )
    await exchange.respond(
        200,
        page.encode(),
        content_type="text/html; charset=utf-8",
        extra=[("content-security-policy", policy)],
    )

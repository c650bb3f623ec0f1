#!/usr/bin/env bash
# Where a 2 GiB transfer spends its time: py-spy samples both `chatty` processes for 3 s
# mid-transfer (on tmpfs, so no disk in the way) and prints, per side, the innermost
# Python frame of each sample with the native call under it.
#   sudo bench/profile.sh            (needs py-spy: pip install py-spy)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv-test/bin/python}
[ -x "$PY" ] || PY=python3
SPY=$(dirname "$PY")/py-spy
P=/dev/shm/chatty-profile
rm -rf $P && mkdir -p $P
trap 'kill $RX 2>/dev/null || true; rm -rf $P' EXIT
$PY -c "import sys; sys.path.insert(0, '.'); from bench.common import make_file; from pathlib import Path; make_file(Path('$P/big.bin'), 2 << 30)"
$PY -m chatty_p2p daemon --json --no-discovery --data-dir $P/rx --download-dir $P/dl --accept-from '*' >$P/rx.out 2>/dev/null &
RX=$!
until [ -s $P/rx.out ]; do sleep 0.1; done
ID=$($PY -m chatty_p2p id --json --data-dir $P/tx | $PY -c "import json, sys; print(json.load(sys.stdin)['id'])")
$PY -m chatty_p2p pair "$ID" --fingerprint "$ID" --data-dir $P/rx >/dev/null
PORT=$($PY -c "import json; print(json.loads(open('$P/rx.out').readline())['port'])")
$PY -m chatty_p2p send "127.0.0.1:$PORT" $P/big.bin --no-discovery --data-dir $P/tx &
TX=$!
sleep 1.2
"$SPY" record --native -d 3 -r 250 -f raw -o $P/receiver.prof --pid $RX >/dev/null 2>&1 &
"$SPY" record --native -d 3 -r 250 -f raw -o $P/sender.prof --pid $TX >/dev/null 2>&1 &
wait $TX
sleep 1
$PY - $P/receiver.prof $P/sender.prof <<'PY'
import collections, sys
for path in sys.argv[1:]:
    counts, total = collections.Counter(), 0
    for line in open(path):
        stack, _, n = line.rstrip().rpartition(" ")
        frames = stack.split(";")
        python = [f for f in frames if ".py:" in f]
        native = frames[-1] if "0x" not in frames[-1] else "libc (memcpy, futex, ...)"
        counts[(python[-1] if python else "-", native)] += int(n)
        total += int(n)
    print(f"== {path.rsplit('/', 1)[-1]}: {total} samples")
    for (where, native), n in counts.most_common(10):
        print(f"  {100 * n / total:5.1f}%  {where[:60]}  <- {native[:40]}")
PY

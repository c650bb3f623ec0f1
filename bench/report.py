"""The suite's output: ``results.json`` (every figure with its baseline), a
Markdown table (``results.md``, each target marked met or not; then the
throughput rounds with CPU per side, and the socket snapshots of the shaped
link), and PNG plots.

``python -m bench.report DIR`` draws the table and plots again from DIR/results.json.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import Result


def write_report(out: Path, meta: dict[str, Any], results: list[Result]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(
        json.dumps({"meta": meta, "results": [r.to_dict() for r in results]}, indent=1) + "\n"
    )
    lines = [
        "# Chatty benchmark results",
        "",
        f"{meta['date']}, {meta['machine']}, {meta['cores']} cores, Python {meta['python']}; "
        f"{'quick (smoke) sizes: not a measurement' if meta['quick'] else 'full sizes'}; "
        f"{meta['seconds']} s. Made by `sudo python -m bench`.",
        "",
        *_setup(meta),
        "| group | what | figure | baseline (same run) | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        base = f"{r.baseline} {r.baseline_value:,.3g} {r.unit}" if r.baseline_value else ""
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else ""
        if r.ratios:
            ratio += f" ({r.spread})"
        met = "" if r.met is None else "yes" if r.met else "**no**"
        note = f" ({r.note})" if r.note else ""
        lines.append(
            f"| {r.group} | {r.name}{note} | {r.value:,.3g} {r.unit} | {base} | {ratio} "
            f"| {r.target} | {met} |"
        )
    lines += _rounds(results) + _sockets(results)
    (out / "results.md").write_text("\n".join(lines) + "\n")
    _plots(out, results)


def _setup(meta: dict[str, Any]) -> list[str]:
    """How the throughput figures were taken, when this run took any."""
    if "rounds" not in meta:  # a results.json from before the rounds
        return []
    return [
        f"Throughput: {meta['rounds']} interleaved rounds (every tool once per round); a "
        "ratio is the median of the ratios taken within each round (min-max beside it); "
        f"large file {meta['large_file_bytes'] / 2**20:,.0f} MiB; the data and every copy "
        f"on {meta['transfer_data']}.",
        "",
    ]


def _rounds(results: list[Result]) -> list[str]:
    """Per tool: its figure in each round, x raw TCP, and each side's CPU."""
    rows = [r for r in results if "cpu_counted" in r.extra]
    if not rows:
        return []
    lines = [
        "",
        "## Throughput by round, and CPU per side",
        "",
        "CPU: median over the rounds, per GB moved (per 1,000 files for the small files); "
        "what each side counts is in the last column.",
        "",
        "| group | tool | median | each round | x raw TCP (min / median / max) "
        "| sender CPU | receiver CPU | CPU counted |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        x = r.extra
        rounds = ", ".join(f"{v:,.3g}" for v in x["rates"])
        ratios = (
            " / ".join(f"{v:.2f}" for v in (min(r.ratios), r.ratio, max(r.ratios)))
            if r.ratios
            else ""
        )
        counted = x["cpu_counted"]
        if "helpers_cpu" in x:
            counted += f"; mailbox and relay: {x['helpers_cpu']:.2g} {x['cpu_unit']}"
        lines.append(
            f"| {r.group.removeprefix('throughput ')} | {r.name} | {r.value:,.3g} {r.unit} "
            f"| {rounds} | {ratios} | {x['sender_cpu']:.2g} {x['cpu_unit']} "
            f"| {x['receiver_cpu']:.2g} {x['cpu_unit']} | {counted} |"
        )
    return lines


def _sockets(results: list[Result]) -> list[str]:
    """The ``ss -tmi`` snapshots taken half-way through a transfer, as they came."""
    lines = []
    for r in results:
        if r.extra.get("ss"):
            lines += ["", f"### Sockets half-way: {r.name}, {r.group}", "", "```text"]
            lines += [r.extra["ss"], "```"]
    if lines:
        lines = ["", "## Socket state mid-transfer (`ss -tmi`)", *lines]
    return lines


def _plots(out: Path, results: list[Result]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        groups[r.group].append(r)
    through = [g for g in groups if g.startswith("throughput")]
    if through:
        fig, axes = plt.subplots(1, len(through), figsize=(4.2 * len(through), 3.6), squeeze=False)
        for ax, group in zip(axes[0], through, strict=True):
            rows = [r for r in groups[group] if r.baseline == "raw TCP"]
            names = ["raw TCP"] + [r.name for r in rows]
            values = [rows[0].baseline_value or 0.0] + [r.value for r in rows]
            colours = ["#8c959f"] + ["#2f6feb" if r.name == "chatty" else "#d0d7de" for r in rows]
            ax.bar(names, values, color=colours)
            ax.set_title(group.removeprefix("throughput "), fontsize=9)
            ax.set_ylabel(rows[0].unit)
            ax.tick_params(axis="x", labelsize=8, rotation=20)
        fig.tight_layout()
        fig.savefig(out / "throughput.png", dpi=110)
        plt.close(fig)
    latency = groups.get("message latency", [])
    if latency:
        fig, ax = plt.subplots(figsize=(5, 3.4))
        ax.bar([r.name for r in latency], [r.value for r in latency], color="#2f6feb")
        ax.axhline(50, color="#cf222e", linestyle="--", label="p99 target 50 ms")
        ax.set_ylabel("ms (message to receipt)")
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", labelsize=8, rotation=15)
        fig.tight_layout()
        fig.savefig(out / "latency.png", dpi=110)
        plt.close(fig)
    trials = [r for r in groups.get("discovery", []) if "trials" in r.extra]
    if trials:
        fig, ax = plt.subplots(figsize=(5, 3.4))
        for r in trials:
            ax.plot(range(1, len(r.extra["trials"]) + 1), r.extra["trials"], "o-", label=r.name)
        ax.axhline(1.5, color="#cf222e", linestyle="--", linewidth=0.8, label="discovery target")
        ax.axhline(1.0, color="#9a6700", linestyle=":", linewidth=0.8, label="leave target")
        ax.set_xlabel("trial")
        ax.set_ylabel("seconds")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / "discovery.png", dpi=110)
        plt.close(fig)


def main() -> None:
    out = Path(sys.argv[1])
    data = json.loads((out / "results.json").read_text())
    fields = set(Result.__dataclass_fields__)
    results = [Result(**{k: v for k, v in r.items() if k in fields}) for r in data["results"]]
    write_report(out, data["meta"], results)


if __name__ == "__main__":
    main()

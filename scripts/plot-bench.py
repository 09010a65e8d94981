#!/usr/bin/env python3
"""Plot `xdpfwd bench topo --json` output as an SVG (Python standard library only).

    scripts/plot-bench.py docs/bench/topo.json docs/bench/topo.svg
    scripts/plot-bench.py --markdown docs/bench/topo.json   (the table of docs/benchmarks.md)

Two panels, one bar per forwarder: delivered packets per second and
forwarder CPU nanoseconds per packet, each bar the median over rounds with a
whisker from the minimum to the maximum.
"""
import json
import sys
from xml.sax.saxutils import escape

LABEL_W, PANEL_W, BAR_H, GAP, TOP = 330, 330, 18, 8, 60


def panel(results, x0, title, field, scale, unit, fmt, color):
    rows = [r for r in results if r.get(field)]
    top = max(r[field]["max"] for r in rows) * scale if rows else 1
    out = [f'<text x="{x0}" y="{TOP - 24}" font-weight="bold">{escape(title)}</text>']
    for i, r in enumerate(results):
        y = TOP + i * (BAR_H + GAP)
        s = r.get(field)
        if not s:
            out.append(f'<text x="{x0}" y="{y + 13}" fill="#888">not run</text>')
            continue
        w = lambda v: v * scale / top * (PANEL_W - 70)
        out.append(f'<rect x="{x0}" y="{y}" width="{w(s["median"]):.1f}" height="{BAR_H}" fill="{color}"/>')
        ym = y + BAR_H / 2
        out.append(f'<line x1="{x0 + w(s["min"]):.1f}" x2="{x0 + w(s["max"]):.1f}" y1="{ym}" y2="{ym}" stroke="#222"/>')
        out.append(f'<text x="{x0 + w(s["max"]) + 4:.1f}" y="{y + 13}">{fmt.format(s["median"] * scale)}{unit}</text>')
    return out


def markdown(d):
    def rng(s, scale, f):
        return f"{f.format(s['median'] * scale)} ({f.format(s['min'] * scale)}-{f.format(s['max'] * scale)})" if s else "-"
    def ratio(v):
        return f"{v:.2f}x" if v is not None else "-"
    print("| forwarder | delivered Mpps | CPU ns/packet | ns vs bare | pps/core vs nftables | samples ok |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in d["results"]:
        if r.get("error"):
            print(f"| {r['name']} | not run: {r['error']} | | | | |")
            continue
        ok = r["samples_checked"] - len(r["sample_problems"])
        print(f"| {r['name']} | {rng(r.get('delivered_pps'), 1e-6, '{:.3f}')} | {rng(r.get('ns_per_packet'), 1, '{:.0f}')} "
              f"| {ratio(r.get('ns_ratio_to_bare'))} | {ratio(r.get('pps_per_core_ratio_to_nftables'))} | {ok}/{r['samples_checked']} |")
    m = d["machine"]
    for when in ("cache_before", "cache_after"):
        if m.get(when):
            print(f"\n{when.replace('_', ' ')}: {m[when]['round_trip_ns']:.0f} ns round trip ({m[when]['state']})", end="")
    print()
    for row in d.get("prog") or []:
        print(f"\nbench prog, {row['rules']} rules: established {row['established_minus_empty_ns']:.1f} ns, "
              f"new flow {row['new_flow_minus_empty_ns']:.1f} ns (minus an empty program's {row['empty_ns']:.1f} ns)", end="")
    print()


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--markdown":
        return markdown(json.load(open(sys.argv[2])))
    if len(sys.argv) != 3:
        sys.exit("usage: plot-bench.py TOPO.json OUT.svg")
    d = json.load(open(sys.argv[1]))
    results = d["results"]
    height = TOP + len(results) * (BAR_H + GAP) + 50
    width = LABEL_W + 2 * PANEL_W + 20
    cache = d["machine"].get("cache_before") or {}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="10" y="18" font-size="14" font-weight="bold">xdpfwd bench topo: {d["size"]}-byte UDP, '
             f'{d["rounds"]} rounds of {d["duration_s"]} s, kernel {escape(d["machine"]["kernel"])}, '
             f'{escape(cache.get("state", "cache state unknown"))}</text>']
    for i, r in enumerate(results):
        y = TOP + i * (BAR_H + GAP)
        parts.append(f'<text x="10" y="{y + 13}">{escape(r["name"])}</text>')
    parts += panel(results, LABEL_W, "delivered Mpps (median, min-max)", "delivered_pps", 1e-6, "", "{:.2f}", "#4a7ebb")
    parts += panel(results, LABEL_W + PANEL_W, "forwarder CPU ns/packet (lower is better)", "ns_per_packet", 1, " ns",
                   "{:.0f}", "#d0783a")
    parts.append(f'<text x="10" y="{height - 15}" fill="#555">generator: {escape(d.get("generator", ""))} on CPU '
                 f'{d["generator_cpu"]}, forwarder on CPU {d["forwarder_cpu"]}; whiskers: min-max over rounds</text>')
    parts.append('</svg>')
    with open(sys.argv[2], "w") as f:
        f.write("\n".join(parts) + "\n")


if __name__ == "__main__":
    main()

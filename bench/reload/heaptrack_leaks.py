#!/usr/bin/python3
"""Reads heaptrack_print's output for a server run (bench/reload/run.sh --heaptrack) and adds what was still
allocated at exit to the benchmark's JSON: heaptrack_leaked (the report's rounded figure),
heaptrack_leaked_bytes (exact: the sum over heaptrack_print's "leaked" flame-graph stacks), and the largest
leak sites of the report. Prints one line.

  heaptrack_leaks.py REPORT.txt LEAKED_STACKS.txt RESULT.json
"""
import json
import re
import sys

# heaptrack_print's sizes: a number and a unit suffix (B, K, M, G), powers of 1000 (heaptrack's formatBytes).
UNITS = {"B": 1, "K": 1e3, "M": 1e6, "G": 1e9}


def to_bytes(text):
    match = re.fullmatch(r"([0-9.]+)([BKMG]?)", text.strip())
    if not match:
        raise ValueError(f"not a heaptrack size: {text!r}")
    return int(round(float(match.group(1)) * UNITS[match.group(2) or "B"]))


def main():
    report_path, stacks_path, result_path = sys.argv[1], sys.argv[2], sys.argv[3]
    text = open(report_path).read()
    total = re.search(r"^total memory leaked: (\S+)", text, re.M)
    if not total:
        sys.exit("heaptrack_leaks.py: no 'total memory leaked' in heaptrack_print's output:\n" + text[-2000:])
    # "1.23M leaked over 12 calls from" followed by the allocating function's line.
    sites = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(r"^(\S+) leaked over (\d+) calls from", line)
        if match and i + 1 < len(lines):
            sites.append({"leaked": match.group(1), "leaked_bytes": to_bytes(match.group(1)),
                          "calls": int(match.group(2)), "from": lines[i + 1].strip()})
    sites.sort(key=lambda s: -s["leaked_bytes"])
    # Flame-graph lines: "frame;frame;... <bytes>".
    exact = sum(int(line.rsplit(" ", 1)[1]) for line in open(stacks_path) if line.strip())
    with open(result_path) as f:
        result = json.load(f)
    result["heaptrack_leaked"] = total.group(1)
    result["heaptrack_leaked_bytes"] = exact
    result["heaptrack_top_leaks"] = sites[:10]
    with open(result_path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"heaptrack: {result['cycles']} cycles, still allocated at exit {total.group(1)} "
          f"({result['heaptrack_leaked_bytes']} bytes)")


if __name__ == "__main__":
    main()

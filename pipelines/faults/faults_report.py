#!/usr/bin/python3
"""The fault matrix's table (pipelines/faults.sh): reads the rows (JSON
lines) the faults printed and the list of what was run, prints one
Markdown table and says which rows fail. A row fails when a repetition did
not recover, a frame was lost uncounted (received != pushed + dropped +
held), an object was left alive under the leaks tracer, the fault's note
says FAIL (a check of its own: an error on the bus, a critical), or the
fault printed no row at all (it crashed or hung: its exit status is
shown)."""
import argparse
import json
import sys


def dropped_text(dropped):
    reasons = [f"{reason} {count}" for reason, count in sorted(dropped.items()) if count]
    return ", ".join(reasons) if reasons else "0"


def mb(kb):
    return f"{kb / 1024:.1f}" if kb is not None and kb >= 0 else "?"


def failures(row):
    found = []
    if row["recovered"] < row["repetitions"]:
        found.append(f"recovered {row['recovered']} of {row['repetitions']}")
    if row["lost_uncounted"] != 0:
        found.append(f"{row['lost_uncounted']} lost uncounted")
    if "FAIL" in row["note"]:
        found.append("a check failed (see the note)")
    if row["leaks_alive"] != 0:
        found.append("leaks tracer " + ("not active" if row["leaks_alive"] < 0
                                        else f"lists {row['leaks_alive']} alive"))
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", required=True, help="JSON lines, one per fault run")
    parser.add_argument("--runs", required=True,
                        help="what was run: 'fault shape exit-status seconds' per line")
    args = parser.parse_args()

    rows = {}
    with open(args.rows) as file:
        for line in file:
            if line.strip():
                row = json.loads(line)
                rows[(row["fault"], row["shape"])] = row
    print("| fault | shape | repetitions | recovered | received | analysed | dropped by reason "
          "| lost uncounted | alive (leaks tracer) | RSS start → end (MiB) | time (s) | note |")
    print("|---|---|---:|---:|---:|---:|---|---:|---:|---|---:|---|")
    failed = []
    with open(args.runs) as file:
        for line in file:
            fault, shape, status, seconds = line.split()
            row = rows.get((fault, shape))
            if row is None:
                print(f"| {fault} | {shape} | | | | | | | | | {seconds} | "
                      f"**no row: exit status {status}** |")
                failed.append(f"{fault} {shape}: no row (exit status {status})")
                continue
            problems = failures(row)
            if status != "0":
                problems.append(f"exit status {status}")
            note = row["note"].strip() + ("; **" + "; ".join(problems) + "**" if problems else "")
            print(f"| {fault} | {shape} | {row['repetitions']} | {row['recovered']} "
                  f"| {row['received']} | {row['analysed']} | {dropped_text(row['dropped'])} "
                  f"| {row['lost_uncounted']} | {row['leaks_alive']} "
                  f"| {mb(row['rss_start_kb'])} → {mb(row['rss_end_kb'])} | {seconds} | {note} |")
            if problems:
                failed.append(f"{fault} {shape}: {'; '.join(problems)}")
    print()
    if failed:
        print(f"{len(failed)} fault(s) failed:")
        for failure in failed:
            print(f"- {failure}")
        return 1
    print("every fault recovered, 0 frames lost uncounted, 0 objects alive")
    return 0


if __name__ == "__main__":
    sys.exit(main())

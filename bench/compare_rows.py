#!/usr/bin/env python3
"""Merges the rounds of bench/compare.sh into one advd-vs-PyTorch table.

Reads FOLDER/advd-*.json (advbench --json) and FOLDER/torch-*.json (bench/torch_reference.py --json),
written in rounds where each model, thread count and batch size ran in advd and then in PyTorch right
after it (earlier runs: each model), so both sides of a row share the machine's state of that moment. A
row's samples/s is the median over the rounds; the ratio's range is over the rounds' paired ratios
(advd's and PyTorch's rates of the same round), which shows how far the machine's noise moved it.

The goal column is the issue's bar for the row: where PyTorch reaches less than 70% of the same runs'
sgemm GFLOP/s (median over the rounds) advd must be 1.3x PyTorch; where it reaches more, advd must
be at least level and reach 90% of that sgemm rate itself.
"""
import glob
import json
import os
import statistics
import sys


def load(folder, side):
    reports = []
    for path in sorted(glob.glob(os.path.join(folder, f"{side}-*.json"))):
        with open(path) as handle:
            report = json.load(handle)
        report["round"] = os.path.basename(path).split("-")[1]   # side-rROUND-model[-tTHREADS-bBATCH].json
        reports.append(report)
    if not reports:
        sys.exit(f"compare_rows.py: no {side}-*.json in {folder}")
    return reports


def rows_by_key(reports):
    """(model, threads, batch, mode) -> {round: row}"""
    table = {}
    for report in reports:
        for row in report["rows"]:
            key = (row["model"], row["threads"], row["batchSize"], row["mode"])
            table.setdefault(key, {})[report["round"]] = row
    return table


def goal(torch_gflops, advd_gflops, ratio, sgemm):
    """The issue's bar for one row, and whether the medians meet it."""
    if torch_gflops < 0.7 * sgemm:
        return ">=1.3x", ratio >= 1.3
    return ">=1.0x, >=90% sgemm", ratio >= 1.0 and advd_gflops >= 0.9 * sgemm


def main():
    folder = sys.argv[1]
    advd_reports, torch_reports = load(folder, "advd"), load(folder, "torch")
    advd, torch = rows_by_key(advd_reports), rows_by_key(torch_reports)
    sgemm_samples = {}
    for report in advd_reports:
        for threads, gflops in report["sgemmGflops"].items():
            sgemm_samples.setdefault(int(threads), []).append(gflops)
    sgemm = {threads: statistics.median(values) for threads, values in sgemm_samples.items()}
    rounds = len({report["round"] for report in advd_reports})

    first = advd_reports[0]
    print(f"\nadvd vs PyTorch {torch_reports[0]['torch']} ({first['machine']}, OpenBLAS {first['blasCore']}), "
          f"median of {rounds} round(s), each row run in advd then in PyTorch")
    print("| model | threads | batch | mode | advd samples/s | advd GFLOP/s | PyTorch samples/s | PyTorch GFLOP/s "
          "| advd/PyTorch | range over rounds | goal | met |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---|")
    met = compared = 0
    for key, by_round in advd.items():
        reference = torch.get(key)
        if not reference:
            continue   # advd's side only: its PyTorch side did not run (a time budget cut the pass)
        compared += 1
        model, threads, batch, mode = key
        advd_rate = statistics.median(row["samplesPerSecond"] for row in by_round.values())
        advd_gflops = statistics.median(row["gflops"] for row in by_round.values())
        torch_rate = statistics.median(row["samplesPerSecond"] for row in reference.values())
        torch_gflops = statistics.median(row["gflops"] for row in reference.values())
        paired = [by_round[r]["samplesPerSecond"] / reference[r]["samplesPerSecond"] for r in by_round if r in reference]
        ratio = advd_rate / torch_rate
        bar, ok = goal(torch_gflops, advd_gflops, ratio, sgemm[threads])
        met += ok
        print(f"| {model} | {threads} | {batch} | {mode} | {advd_rate:,.0f} | {advd_gflops:.1f} | {torch_rate:,.0f} "
              f"| {torch_gflops:.1f} | {ratio:.2f}x | {min(paired):.2f}-{max(paired):.2f}x | {bar} | {'yes' if ok else 'no'} |")
    unpaired = len(advd) - compared
    print(f"\n{met} of {compared} rows meet their goal"
          + (f" ({unpaired} advd row(s) without a PyTorch side left out)" if unpaired else ""))
    print("sgemm 2048^3 GFLOP/s by threads (median over rounds): "
          + ", ".join(f"{t}: {g:.1f}" for t, g in sorted(sgemm.items())))


if __name__ == "__main__":
    main()

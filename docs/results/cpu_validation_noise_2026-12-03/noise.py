"""Validation noise of the CPU task's held-out Avg@8 for m samples per problem, from one validation of 512.

Disjoint groups of m samples of each problem are independent validations with m samples; the std of their Avg over
groups is the noise of one such validation. The binomial estimate sqrt(sum_p p(1-p) / m) / P uses each problem's
success rate from all 512 samples and needs no grouping. Usage: python noise.py outcomes_n512.json
"""

import json
import math
import statistics
import sys

problems = [[c == "1" for c in row["correct"]] for row in json.load(open(sys.argv[1]))["problems"]]
n = min(len(row) for row in problems)
rates = [statistics.fmean(row[:n]) for row in problems]
print(f"{len(problems)} problems x {n} samples, Avg {statistics.fmean(rates):.4f}")
for m in (8, 64, 128, 256):
    groups = n // m
    avgs = [statistics.fmean(statistics.fmean(row[g * m : (g + 1) * m]) for row in problems) for g in range(groups)]
    binomial = math.sqrt(sum(p * (1 - p) * n / (n - 1) for p in rates) / m) / len(problems)
    print(
        f"m = {m:3d}: {groups:2d} groups, std of Avg over groups {statistics.stdev(avgs):.4f}, binomial {binomial:.4f}"
    )

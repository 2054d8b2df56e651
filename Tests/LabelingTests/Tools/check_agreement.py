#!/usr/bin/env python3
"""Test tool: computes the agreement statistics of a JSON case file with independent
implementations (scipy's kendalltau, the `krippendorff` package from PyPI, and a plain loop for
the pairwise agreement rate), and prints them as JSON for the Swift test to compare.

Input: {"rankings": [[{candidate: rank}, {candidate: rank}], ...] (pairs of rankings of the same
prompt), "ratingUnits": [[value or null per coder]], "flagUnits": [[0/1 or null per coder]]}
"""
import json, math, sys

import krippendorff
import numpy
from scipy.stats import kendalltau


def main():
    case = json.load(open(sys.argv[1]))
    agreeing = pairs = 0
    taus = []
    for first, second in case["rankings"]:
        shared = sorted(set(first) & set(second), key=int)
        for i, a in enumerate(shared):
            for b in shared[i + 1:]:
                pairs += 1
                left = (first[a] > first[b]) - (first[a] < first[b])
                right = (second[a] > second[b]) - (second[a] < second[b])
                agreeing += left == right
        tau = kendalltau([first[c] for c in shared], [second[c] for c in shared]).statistic
        taus.append(None if math.isnan(tau) else float(tau))

    def alpha(units, level):
        # krippendorff wants coders as rows, units as columns, NaN for a missing value.
        matrix = numpy.array([[numpy.nan if v is None else v for v in unit] for unit in units], dtype=float).T
        return float(krippendorff.alpha(reliability_data=matrix, level_of_measurement=level))

    print(json.dumps({"agreement": agreeing / pairs, "taus": taus,
                      "ratingAlpha": alpha(case["ratingUnits"], "interval"),
                      "flagAlpha": alpha(case["flagUnits"], "nominal")}))


if __name__ == "__main__":
    main()

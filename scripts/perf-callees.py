#!/usr/bin/env python3
"""Which callees of a frame take the time, from `perf script` output on stdin.

    perf-callees.py REGEX [DEPTH]

For every sample with a frame matching REGEX (the outermost such frame), counts the
chain of DEPTH callees below it (skipping std/core/alloc glue) and prints each chain's
share of all samples.
"""
import collections
import re
import sys

GLUE = re.compile(r'^(core::|alloc::|std::|call_once|do_call|catch_unwind|\{closure|<core::'
                  r'|<alloc::|map<|try_fold|fold<|from_iter|next<|for_each)')


def norm(frame):
    frame = re.sub(r'\+0x[0-9a-f]+', '', frame)
    frame = re.sub(r' \(.*\)$', '', frame)
    return re.sub(r'::h[0-9a-f]{16}', '', frame)[:140]


def main():
    pattern = re.compile(sys.argv[1])
    depth = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    counts = collections.Counter()
    total = hits = 0
    stack = []

    def flush():
        nonlocal total, hits
        if not stack:
            return
        total += 1
        matches = [i for i, f in enumerate(stack) if pattern.search(f)]
        if not matches:
            return
        hits += 1
        chain, j = [], max(matches) - 1
        while j >= 0 and len(chain) < depth:
            if not GLUE.search(stack[j]):
                chain.append(stack[j])
            j -= 1
        counts[' <- '.join(chain) if chain else '(self)'] += 1

    for line in sys.stdin:
        if not line.strip():
            flush()
            stack.clear()
        elif line.startswith((' ', '\t')):
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                stack.append(norm(parts[1]))
    flush()
    if not total:
        sys.exit("no samples")
    print(f"{sys.argv[1]}: {hits} of {total} samples ({100 * hits / total:.1f}%)")
    for chain, n in counts.most_common(20):
        print(f"{100 * n / total:6.1f}% {chain}")


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""tests/apps/compare.py EXPECTED ACTUAL [--rtol R] [--atol A]

Compares a program's output with its expected output line by line. Each line is split into
numbers and the text between them: the text must be equal; numbers written as integers in
EXPECTED (counts, indices, exact zeros) must be equal; other numbers must agree within
|a - e| <= rtol * max(|a|, |e|) + atol (default rtol 1e-4, atol 1e-4): the programs compute
in f32, the references (tests/apps/ref.py) in double. Prints every mismatch; exit 1 if any.
"""
import re
import sys

NUM = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)\b")
INT = re.compile(r"[-+]?\d+$")


def split(line):
    parts, nums, pos = [], [], 0
    for m in NUM.finditer(line):
        # a digit glued to a word (f32, w0) is text, not a number
        if m.start() > 0 and (line[m.start() - 1].isalpha() or line[m.start() - 1] == "_"):
            continue
        parts.append(line[pos:m.start()])
        nums.append(m.group(0))
        pos = m.end()
    parts.append(line[pos:])
    return parts, nums


def main(argv):
    args = argv[1:]
    rtol, atol = 1e-4, 1e-4
    if "--rtol" in args:
        i = args.index("--rtol"); rtol = float(args[i + 1]); del args[i:i + 2]
    if "--atol" in args:
        i = args.index("--atol"); atol = float(args[i + 1]); del args[i:i + 2]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    exp = open(args[0]).read().splitlines()
    act = open(args[1]).read().splitlines()
    bad = 0
    if len(exp) != len(act):
        print("expected %d lines, got %d" % (len(exp), len(act)))
        bad = 1
    for n, (e, a) in enumerate(zip(exp, act), 1):
        (et, en), (at, an) = split(e), split(a)
        why = None
        if et != at or len(en) != len(an):
            why = "text differs"
        else:
            for x, y in zip(en, an):
                if INT.match(x):
                    if not INT.match(y) or int(x) != int(y):
                        why = "%s != %s (exact)" % (y, x)
                        break
                else:
                    fx, fy = float(x), float(y)
                    if not abs(fx - fy) <= rtol * max(abs(fx), abs(fy)) + atol:
                        why = "%s vs expected %s" % (y, x)
                        break
        if why:
            print("line %d: %s\n  expected: %s\n  actual:   %s" % (n, why, e, a))
            bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Reads a Prophesee .raw file with the `expelliarmus` package (an independent
EVT 2.0 / 3.0 reader) and prints its CD events, one `t x y p` line each: the
reference side of trainer/tests/prophesee.rs.

    python3 scripts/evt_dump.py evt3 FILE
"""

import sys

from expelliarmus import Wizard


def main(encoding, path):
    arr = Wizard(encoding=encoding).read(path)
    out = sys.stdout
    for t, x, y, p in zip(arr["t"], arr["x"], arr["y"], arr["p"]):
        out.write(f"{int(t)} {int(x)} {int(y)} {int(p)}\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

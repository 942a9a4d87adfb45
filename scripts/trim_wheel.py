#!/usr/bin/env python3
"""Rewrites a wheel in place without the files whose names start with or
contain any of the given patterns (and without their RECORD lines).

    python3 scripts/trim_wheel.py WHEEL PATTERN...
"""

import os
import sys
import zipfile


def main(path, patterns):
    def drop(name):
        return any(name.startswith(p) or p in name for p in patterns)

    tmp = path + ".tmp"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if drop(item.filename):
                continue
            data = zin.read(item.filename)
            if item.filename.endswith(".dist-info/RECORD"):
                lines = data.decode().splitlines()
                data = "\n".join(l for l in lines if not drop(l.split(",")[0])).encode() + b"\n"
            zout.writestr(item, data)
    before = os.path.getsize(path)
    os.replace(tmp, path)
    print(f"{os.path.basename(path)}: {before} -> {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])

#!/usr/bin/env python3
"""Lists the CUDA code embedded in binaries and checks that the wanted architectures are there.

Usage: check_cuda_objects.py [--machine-code 90] [--ptx 90] FILE [FILE ...]

Reads each file's .nv_fatbin section (objcopy) and walks the fat binary: a header
(magic 0xBA55ED50, version, header size, size) then entries, each with its kind (1: PTX,
2: ELF machine code), header size, payload size and, in its eighth 32-bit word, the
architecture (90 for sm_90 / compute_90). This machine has nvcc but no cuobjdump; the layout was
checked against nvcc 13.0's output. Exits 1 when a wanted architecture is missing.
"""

import argparse
import os
import struct
import subprocess
import sys
import tempfile

MAGIC = 0xBA55ED50
KINDS = {1: "ptx", 2: "machine code"}


def fatbin_entries(path):
    with tempfile.TemporaryDirectory() as tmp:
        section = os.path.join(tmp, "fatbin")
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.nv_fatbin", path, section],
                       check=True)
        data = open(section, "rb").read()
    entries, off = [], 0
    while off + 16 <= len(data):
        magic, _, header, size = struct.unpack_from("<IHHQ", data, off)
        if magic != MAGIC:
            break
        p, end = off + header, off + header + size
        while p + 32 <= end:
            kind, _, entry_header, payload = struct.unpack_from("<HHII", data, p)
            arch = struct.unpack_from("<I", data, p + 28)[0]
            entries.append((KINDS.get(kind, f"kind {kind}"), arch))
            p += entry_header + payload
        off = end
    return entries


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--machine-code", type=int, action="append", default=[])
    ap.add_argument("--ptx", type=int, action="append", default=[])
    args = ap.parse_args()
    ok = True
    for path in args.files:
        entries = sorted(set(fatbin_entries(path)))
        print(f"{path}: " + (", ".join(f"{k} for {a}" for k, a in entries) or "no CUDA code"))
        for kind, wanted in [("machine code", args.machine_code), ("ptx", args.ptx)]:
            for arch in wanted:
                if (kind, arch) not in entries:
                    print(f"{path}: no {kind} for architecture {arch}", file=sys.stderr)
                    ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

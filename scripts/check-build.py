"""Checks that a Lambda zip's `bootstrap` is an ELF executable for the right architecture,
linked at a fixed address (not position-independent: the Makefile builds releases with
`-C relocation-model=static`), and prints the sizes (unzipped binary, zip).

Usage: python scripts/check-build.py ZIP=ARCH [ZIP=ARCH ...]   (ARCH: arm64 or x86_64)
       python scripts/check-build.py NAME [NAME ...]  (target/lambda/NAME/bootstrap.zip, arm64)
Exits 1 when any zip is missing, has no `bootstrap`, is built for another machine, or is
position-independent (the static relocation model did not reach the build).
"""
import os
import sys
import zipfile

# e_machine of the ELF header: what Lambda's two architectures run.
MACHINES = {"arm64": 183, "x86_64": 62}
NAMES = {v: k for k, v in MACHINES.items()}
# e_type: 2 is an executable at a fixed address, 3 a shared object (what PIE is).
ET_EXEC = 2


def check(path, arch):
    try:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("bootstrap")
            head = z.read("bootstrap")[:20]
    except (OSError, KeyError, zipfile.BadZipFile) as e:
        return False, f"{path}: {e}"
    machine = int.from_bytes(head[18:20], "little")
    kind = int.from_bytes(head[16:18], "little")
    elf = head[:4] == b"\x7fELF" and head[4] == 2 and head[5] == 1
    executable = info.external_attr >> 16 & 0o111
    ok = elf and machine == MACHINES[arch] and executable and kind == ET_EXEC
    if ok:
        what = f"{arch} ELF"
    elif not elf:
        what = f"not a 64-bit little-endian ELF (magic={head[:4]!r})"
    elif machine != MACHINES[arch]:
        what = f"built for {NAMES.get(machine, f'machine {machine}')}, not {arch}"
    elif not executable:
        what = "bootstrap is not executable in the zip"
    else:
        what = f"position-independent (ELF type {kind}), not linked at a fixed address"
    return ok, f"{path}: {what}; bootstrap {info.file_size / 1e6:.1f} MB, zip {os.path.getsize(path) / 1e6:.1f} MB"


failed = 0
for arg in sys.argv[1:]:
    path, _, arch = arg.partition("=")
    if not arch:
        path, arch = os.path.join("target", "lambda", arg, "bootstrap.zip"), "arm64"
    if arch not in MACHINES:
        sys.exit(f"{arg}: unknown architecture {arch!r} (arm64 or x86_64)")
    ok, line = check(path, arch)
    print(f"{'ok  ' if ok else 'FAIL'} {line}")
    failed += not ok
sys.exit(1 if failed else 0)

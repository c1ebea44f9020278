"""Tests scripts/check-build.py, which `make package` and `make build` trust to refuse a
zip built for the wrong architecture, on small zips made here (no release build needed).

Usage: python tests/check_build.py  (`make validate` runs it)
Prints one line per check and `check-build: N passed, N failed`; exits 1 on any failure.
"""
import os
import subprocess
import sys
import tempfile
import zipfile

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
script = os.path.join(root, "scripts", "check-build.py")


def elf(machine, kind=2):
    # 64-bit, little-endian ELF header up to e_machine; kind 2 is ET_EXEC, 3 ET_DYN (PIE).
    return b"\x7fELF\x02\x01\x01" + bytes(9) + kind.to_bytes(2, "little") + machine.to_bytes(2, "little") + bytes(44)


def make_zip(directory, name, data, mode=0o755, entry="bootstrap"):
    path = os.path.join(directory, name)
    with zipfile.ZipFile(path, "w") as z:
        info = zipfile.ZipInfo(entry)
        info.external_attr = (0o100000 | mode) << 16
        z.writestr(info, data)
    return path


def run(*args):
    out = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
    return out.returncode, out.stdout + out.stderr


results = []
with tempfile.TemporaryDirectory() as d:
    arm = make_zip(d, "arm.zip", elf(183))
    x86 = make_zip(d, "x86.zip", elf(62))
    cases = [
        ("accepts each architecture's ELF", [f"{arm}=arm64", f"{x86}=x86_64"], 0, "arm64 ELF"),
        ("refuses an x86_64 binary where arm64 is wanted", [f"{x86}=arm64"], 1, "built for x86_64, not arm64"),
        ("refuses an arm64 binary where x86_64 is wanted", [f"{arm}=x86_64"], 1, "built for arm64, not x86_64"),
        ("refuses a script", [f"{make_zip(d, 'sh.zip', b'#!/bin/sh' + bytes(20))}=arm64"], 1, "not a 64-bit little-endian ELF"),
        ("refuses a bootstrap that is not executable", [f"{make_zip(d, 'rw.zip', elf(183), mode=0o644)}=arm64"], 1, "not executable"),
        ("refuses a position-independent binary", [f"{make_zip(d, 'pie.zip', elf(183, kind=3))}=arm64"], 1, "position-independent"),
        ("refuses a zip without bootstrap", [f"{make_zip(d, 'no.zip', elf(183), entry='main')}=arm64"], 1, "bootstrap"),
        ("refuses a missing zip", [f"{d}/missing.zip=arm64"], 1, "No such file"),
        ("refuses an unknown architecture", [f"{arm}=riscv64"], 1, "unknown architecture"),
    ]
    for name, args, code, text in cases:
        rc, out = run(*args)
        ok = rc == code and text in out
        results.append((name, None if ok else f"exit {rc} (wanted {code}), output: {out.strip()}"))

failed = [r for r in results if r[1]]
for name, err in results:
    print(f"{'FAIL' if err else 'ok  '} {name}{': ' + err if err else ''}")
print(f"check-build: {len(results) - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)

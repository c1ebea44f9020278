"""After `cargo lambda build --release --arm64 --output-format zip`: checks that each
function's `bootstrap` is an aarch64 ELF executable and prints the sizes.

Usage: python scripts/check-build.py NAME [NAME ...]  (looks in target/lambda/NAME/bootstrap.zip)
"""
import os
import sys
import zipfile

EM_AARCH64 = 183
failed = 0
for name in sys.argv[1:]:
    path = os.path.join("target", "lambda", name, "bootstrap.zip")
    try:
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("bootstrap")
            head = z.read("bootstrap")[:20]
    except (OSError, KeyError, zipfile.BadZipFile) as e:
        print(f"FAIL {name}: {path}: {e}")
        failed += 1
        continue
    elf = head[:4] == b"\x7fELF"
    is64 = head[4] == 2
    little = head[5] == 1
    machine = int.from_bytes(head[18:20], "little")
    ok = elf and is64 and little and machine == EM_AARCH64
    what = "aarch64 ELF" if ok else f"not an aarch64 ELF (magic={head[:4]!r}, class={head[4]}, machine={machine})"
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {what}; bootstrap {info.file_size / 1e6:.1f} MB, zip {os.path.getsize(path) / 1e6:.1f} MB")
    failed += not ok
sys.exit(1 if failed else 0)

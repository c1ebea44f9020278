"""Fails when the top-level modules of a crate import each other in a circle.

Reads the `use crate::...` lines (and `crate::x::` paths) of every file under SRC and
builds the graph of top-level modules (`check/http.rs` belongs to `check`). A cycle is
printed and exits 1. Usage: python3 scripts/module-cycles.py hooks/src
"""
import pathlib
import re
import sys

src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "hooks/src")
mods = {p.stem for p in src.glob("*.rs")} | {p.name for p in src.iterdir() if p.is_dir()}
mods -= {"lib", "main", "bin"}


def owner(path):
    rel = path.relative_to(src).parts
    return rel[0].removesuffix(".rs")


edges = {m: set() for m in mods}
for path in src.rglob("*.rs"):
    me = owner(path)
    if me not in mods:
        continue
    text = path.read_text()
    # Tests may reach anywhere; only the code itself must be acyclic.
    text = re.split(r"#\[cfg\(test\)\]\s*mod tests\s*\{", text)[0]
    if path.name == "tests.rs" or me == "testing":
        continue
    for m in re.findall(r"crate::(\w+)", text):
        if m in mods and m != me:
            edges[me].add(m)

state, stack = {}, []


def visit(m):
    state[m] = "open"
    stack.append(m)
    for n in sorted(edges[m]):
        if state.get(n) == "open":
            cycle = stack[stack.index(n):] + [n]
            print("import cycle: " + " -> ".join(cycle))
            sys.exit(1)
        if n not in state:
            visit(n)
    stack.pop()
    state[m] = "done"


for m in sorted(mods):
    if m not in state:
        visit(m)
print(f"{src}: {len(mods)} modules, no import cycle")

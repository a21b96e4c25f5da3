#!/usr/bin/env python3
"""Fail when the files of a Rust crate import each other in a cycle.

Usage: scripts/check-import-cycles.py SRC_DIR [SRC_DIR ...]

For every .rs file under each SRC_DIR (one crate's `src/`), read the paths it
names with `crate::` (in `use` lines and inline, e.g. `crate::map::Basemap`)
and, in top-level `use` lines, with `super::` and `self::`; resolve each to
the file that defines the longest matching module (`crate::app::jobs::JobView`
-> `app/jobs.rs`, `crate::app::App` -> `app/mod.rs`); build the file-level
graph and look for a cycle. A parent's `mod child;` and its relative
re-exports (`pub use child::Item;`) are the module tree, not imports, and are
not counted; nor is test code (`#[cfg(test)] mod tests { ... }` bodies and
files declared `#[cfg(test)] mod x;`), whose fixtures may use the code they
test. Exit 0 when every crate is acyclic; otherwise print each cycle
found (file -> file -> ... -> first file) and exit 1.

Only the standard library is used.
"""

import os
import re
import sys

CRATE_PATH = re.compile(r"(?<![\w$])crate((?:::\w+)+)")
USE_START = re.compile(r"^(pub(\([^)]*\))?\s+)?use\s")


def module_of(src, path):
    """The module path (list of names) a file defines, relative to src."""
    rel = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
    if rel in (["lib"], ["main"]):
        return []
    if rel[-1] == "mod":
        rel = rel[:-1]
    return rel


def strip_comments(text):
    """Drop // comments and string literals (roughly), keep line structure."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return "\n".join(line.split("//", 1)[0] for line in text.split("\n"))


TEST_MOD = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*([;{])")


def strip_test_modules(text):
    """Drop `#[cfg(test)] mod x { ... }` bodies: test code is not part of the
    product's structure (a test may use a fixture that uses the code under
    test). Returns the text and the names of `#[cfg(test)] mod x;` files."""
    test_files, out, pos = [], [], 0
    for m in TEST_MOD.finditer(text):
        if m.start() < pos:
            continue
        if m.group(2) == ";":
            test_files.append(m.group(1))
            continue
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        out.append(text[pos : m.start()])
        out.append("\n" * text.count("\n", m.start(), i))
        pos = i
    out.append(text[pos:])
    return "".join(out), test_files


def use_statements(text):
    """Top-level `use` statements (not indented: inline `mod tests` uses are
    indented and their `super` means the file itself), joined on one line."""
    out, current = [], None
    for line in text.split("\n"):
        if current is None and USE_START.match(line):
            current = line
        elif current is not None:
            current += " " + line.strip()
        if current is not None and ";" in current:
            out.append(current.split(";", 1)[0])
            current = None
    return out


def expand(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = tree.replace(" ", "")
    if "{" not in tree:
        return [tree]
    head, rest = tree.split("{", 1)
    inner = rest[: rest.rfind("}")]
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    return [p for part in parts if part for p in expand(head + part)]


def resolve(modules, segments):
    """The file of the longest prefix of `segments` that is a module."""
    for n in range(len(segments), -1, -1):
        if tuple(segments[:n]) in modules:
            return modules[tuple(segments[:n])]
    return None


def crate_graph(src):
    modules, files = {}, []
    for root, _, names in os.walk(src):
        for name in sorted(names):
            if name.endswith(".rs"):
                path = os.path.join(root, name)
                files.append(path)
                modules.setdefault(tuple(module_of(src, path)), path)
    texts, test_only = {}, set()
    for path in files:
        with open(path, encoding="utf-8") as f:
            texts[path], test_mods = strip_test_modules(strip_comments(f.read()))
        here = module_of(src, path)
        parent = here if os.path.basename(path) in ("mod.rs", "lib.rs", "main.rs") else here[:-1]
        for name in test_mods:
            if tuple(parent + [name]) in modules:
                test_only.add(modules[tuple(parent + [name])])
    graph = {path: set() for path in files if path not in test_only}
    for path in graph:
        text = texts[path]
        here = module_of(src, path)
        targets = [m.group(1)[2:].split("::") for m in CRATE_PATH.finditer(text)]
        for stmt in use_statements(text):
            tree = USE_START.sub("", stmt).strip()
            for item in expand(tree):
                segs = [s.split(" as ")[0] for s in item.split("::") if s]
                if segs and segs[0] == "self":
                    # `pub use self::child::Item;` is a parent re-exporting
                    # its child (the module tree), written with `self::` when
                    # the child's name is also a crate's (`self::ort`).
                    if not stmt.startswith("pub"):
                        targets.append(here + segs[1:])
                elif segs and segs[0] == "super":
                    base = list(here)
                    while segs and segs[0] == "super":
                        base = base[:-1]
                        segs = segs[1:]
                    targets.append(base + segs)
        for segments in targets:
            target = resolve(modules, [s for s in segments if s not in ("*", "self")])
            if target and target != path and target in graph:
                graph[path].add(target)
    return graph


def find_cycles(graph):
    """One cycle per strongly connected component with more than one file."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []
    counter = [0]

    def strongconnect(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(cycle_in(graph, component))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            strongconnect(v)
    return cycles


def cycle_in(graph, component):
    """A concrete cycle through the component (breadth-first back to start)."""
    start = min(component)
    parents, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & component):
            if w == start:
                path = [v]
                while parents[path[-1]] is not None:
                    path.append(parents[path[-1]])
                return list(reversed(path)) + [start]
            if w not in parents:
                parents[w] = v
                queue.append(w)
    return sorted(component)


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    failed = False
    for src in argv[1:]:
        if not os.path.isdir(src):
            print(f"{src}: not a directory", file=sys.stderr)
            return 2
        for cycle in find_cycles(crate_graph(src)):
            failed = True
            shown = " -> ".join(os.path.relpath(p, src) for p in cycle)
            print(f"{src}: import cycle: {shown}")
    if not failed:
        print(f"no import cycles in {len(argv) - 1} crate(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

#!/usr/bin/env python3
"""Module dependency cycles of a Rust crate (issue 16: `core` has none).

Reads every `.rs` file under SRC (default core/src), maps it to its module
path (`engine/arch/lean.rs` -> engine::arch::lean, `mod.rs`/`lib.rs` -> the
folder's module), and records an edge A -> B for each path to another module
of the crate that A's code names outside comments and `#[cfg(test)]` blocks
(`crate::x::y`, `super::x`, `self::x`, a child's bare name `x::y`, and `use`
trees). Declaring a child (`mod x;`) is not an edge; using its items is. A
module using its ancestors' items (`super::X`, the parent's re-exports) is
not counted: that is how Rust modules share their parent's context. Prints
every cycle and exits 1 if any.

Usage: scripts/module_cycles.py [SRC]
"""
import os
import re
import sys


def module_of(root, path):
    rel = os.path.relpath(path, root)[:-3].split(os.sep)
    if rel[-1] in ("mod", "lib"):
        rel = rel[:-1]
    return tuple(rel)


def strip(text):
    """Drops comments and `#[cfg(test)]` items (brace-matched)."""
    text = re.sub(r"//[^\n]*", "", text)
    out, i = [], 0
    while True:
        j = text.find("#[cfg(test)]", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        k = text.find("{", j)
        semi = text.find(";", j)
        if semi >= 0 and (k < 0 or semi < k):
            i = semi + 1
            continue
        depth = 0
        for m in range(k, len(text)):
            if text[m] == "{":
                depth += 1
            elif text[m] == "}":
                depth -= 1
                if depth == 0:
                    i = m + 1
                    break
        else:
            break
    return "".join(out)


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e] (names only)."""
    tree = tree.replace(" ", "").replace("\n", "")
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [tree]
    head, body = m.group(1), m.group(2)
    parts, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
            continue
        depth += ch == "{"
        depth -= ch == "}"
        cur += ch
    parts.append(cur)
    return [p for part in parts if part for p in expand_use(head + part)]


def resolve(mod, path, modules):
    segs = [s for s in path.split("::") if s]
    if not segs:
        return None
    if segs[0] == "crate":
        base, segs = (), segs[1:]
    elif segs[0] in ("super", "self"):
        base = mod
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super":
                base = base[:-1]
            segs = segs[1:]
    elif mod + (segs[0],) in modules:
        base = mod  # a child module, named by its bare name
    else:
        return None
    best = None
    for n in range(len(segs) + 1):
        cand = base + tuple(segs[:n])
        if cand in modules:
            best = cand
    return best


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "core/src"
    files = {}
    for d, _, names in os.walk(root):
        for name in names:
            if name.endswith(".rs"):
                p = os.path.join(d, name)
                files[module_of(root, p)] = p
    modules = set(files)
    edges = {m: set() for m in modules}
    for mod, path in files.items():
        text = strip(open(path, encoding="utf-8").read())
        paths = []
        for u in re.finditer(r"\buse\s+([^;]+);", text):
            paths += expand_use(u.group(1))
        paths += re.findall(r"(?<![\w:])(\w+(?:::\w+)+)", text)
        for p in paths:
            t = resolve(mod, p, modules)
            if t is None or t == mod:
                continue
            # A module using its ancestors' items (their re-exports, shared
            # types) is how Rust modules share their parent's context: not
            # counted. Parents using children, siblings and everything else is.
            if t == mod[: len(t)]:
                continue
            edges[mod].add(t)
    # Tarjan's strongly connected components.
    index, low, stack, on, comps, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            visit(v)
    name = lambda m: "::".join(m) or "crate"
    for comp in comps:
        members = set(comp)
        print("cycle:", ", ".join(sorted(name(m) for m in comp)))
        for m in sorted(comp):
            for t in sorted(edges[m] & members):
                print(f"  {name(m)} -> {name(t)}")
    print(f"{len(modules)} modules, {sum(map(len, edges.values()))} edges, {len(comps)} cycle(s)")
    return 1 if comps else 0


if __name__ == "__main__":
    sys.exit(main())

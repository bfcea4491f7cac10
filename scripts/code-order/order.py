#!/usr/bin/env python3
"""Symbol lists for lld's --symbol-ordering-file, from the code pages a traced run used.

  order.py symbols BINARY LINK_MAP PAGES   functions on the traced pages, in address order
  order.py shuffle SEED < SYMBOLS          the same symbols in an order fixed by SEED
  order.py combine ROUND_DIR...            the final order from several rounds
  order.py match LIST LINK_MAP [MIN]       share of LIST's names the linked binary still has;
                                           exits 1 below MIN (default 0.9)

PAGES holds page file offsets (hex, one per line) written by pagetrap.c. A traced page also
holds the cold functions beside the hot ones, so scripts/code-order.sh traces several rounds,
each with the candidates laid out in a different order, and keeps only the functions every
round touched. Each ROUND_DIR holds `steady` and `startup` symbol lists. The final order puts
what the steady state runs first, then what only start-up runs, then what only some rounds ran.

Functions are named by their input section (.text.<symbol>, .text.unlikely.<symbol>, ...),
which for Rust code is the mangled symbol lld matches; sections without a symbol in their name
(C and assembly objects) by the first symbol the map lists in them.
"""
import hashlib
import os
import re
import subprocess
import sys

PAGE = 4096
PREFIXES = (".text.unlikely.", ".text.hot.", ".text.startup.", ".text.exit.", ".text.split.", ".text.")
OUTPUT_LINE = re.compile(r"^\s*[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+\d+\s(\S+)$")
SECTION_LINE = re.compile(r"^\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+\s{9}(\S.*):\((\.text[^)]*)\)$")
SYMBOL_LINE = re.compile(r"^\s*[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+\d+\s{17}(\S.*)$")


def text_delta(binary):
    """p_vaddr - p_offset of the executable segment."""
    out = subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        f = line.split()
        if f and f[0] == "LOAD" and "E" in f[6:-1]:
            return int(f[2], 16) - int(f[1], 16)
    sys.exit(f"order.py: no executable LOAD segment in {binary}")


def section_symbol(name):
    for prefix in PREFIXES:
        if name.startswith(prefix) and name[len(prefix):].startswith(("_R", "_ZN")):
            return name[len(prefix):]
    return None


def text_sections(link_map):
    """[start, end, symbol] of each input section of the .text output section."""
    sections, in_text, current = [], False, None
    with open(link_map) as f:
        for line in f:
            line = line.rstrip("\n")
            m = OUTPUT_LINE.match(line)
            if m:
                in_text = m.group(1) == ".text"
                continue
            if not in_text:
                continue
            m = SECTION_LINE.match(line)
            if m:
                start, size = int(m.group(1), 16), int(m.group(2), 16)
                current = [start, start + size, section_symbol(m.group(4))]
                sections.append(current)
                continue
            m = SYMBOL_LINE.match(line)
            if m and current is not None and current[2] is None:
                current[2] = m.group(1)
    return [s for s in sections if s[2] and s[1] > s[0]]


def symbols(binary, link_map, pages_file):
    delta = text_delta(binary)
    with open(pages_file) as f:
        pages = {(int(line, 16) + delta) // PAGE for line in f if line.strip()}
    seen = set()
    for start, end, symbol in text_sections(link_map):
        if symbol not in seen and any(p in pages for p in range(start // PAGE, (end - 1) // PAGE + 1)):
            seen.add(symbol)
            print(symbol)


def read_list(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def combine(round_dirs):
    rounds = [(read_list(os.path.join(d, "steady")), read_list(os.path.join(d, "startup"))) for d in round_dirs]
    steady = set.intersection(*(set(s) for s, _ in rounds))
    used = set.intersection(*(set(s) | set(u) for s, u in rounds))
    first_steady, first_startup = rounds[0]
    for s in first_steady:
        if s in steady:
            print(s)
    for s in first_steady + first_startup:
        if s in used and s not in steady:
            print(s)
            steady.add(s)
    # What some rounds ran and others did not: cold neighbours of hot code, or code that runs
    # now and then. Packed right after the hot code, it costs nothing while it stays cold and
    # little when some of it runs; left in place, each function that runs costs 64 KiB.
    for rs, ru in rounds:
        for s in rs + ru:
            if s not in steady:
                print(s)
                steady.add(s)


def match(order_file, link_map, minimum="0.9"):
    """How much of a code-order list names functions that exist in the linked binary."""
    listed = read_list(order_file)
    present = {symbol for _, _, symbol in text_sections(link_map)}
    found = sum(1 for name in listed if name in present)
    share = found / len(listed) if listed else 0.0
    print(f"{order_file}: {found} of {len(listed)} names match the binary ({share:.1%})")
    if share < float(minimum):
        print(f"{order_file}: below {float(minimum):.0%}: the list is stale; "
              "regenerate it with scripts/code-order.sh", file=sys.stderr)
        sys.exit(1)


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "match" and len(sys.argv) in (4, 5):
        match(*sys.argv[2:])
        return
    if cmd == "symbols" and len(sys.argv) == 5:
        symbols(*sys.argv[2:5])
    elif cmd == "shuffle" and len(sys.argv) == 3:
        seed = sys.argv[2]
        names = [line.strip() for line in sys.stdin if line.strip()]
        names.sort(key=lambda n: hashlib.sha1((seed + n).encode()).digest())
        print("\n".join(names))
    elif cmd == "combine" and len(sys.argv) > 2:
        combine(sys.argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()

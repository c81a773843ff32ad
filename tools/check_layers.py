#!/usr/bin/env python3
"""The library's layering (README "Layout"): each directory of src/ includes only its own headers and those
of the layers below it. Prints every include that breaks it and exits 1 if there is one.

    python3 tools/check_layers.py [SRC_DIR]
"""
import os
import re
import sys

# lowest first; directories on one line are one layer and do not include each other
LAYERS = [["core"], ["config", "data"], ["splits", "pipelines"], ["ode"], ["nn"], ["models"], ["uncertainty"], ["explain"], ["track"],
          ["run", "sweep"], ["cli"]]
RANK = {d: i for i, layer in enumerate(LAYERS) for d in layer}


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    bad = 0
    for d in sorted(os.listdir(src)):
        if not os.path.isdir(os.path.join(src, d)):
            continue
        if d not in RANK:
            print(f"src/{d}: a directory that is in no layer (add it to tools/check_layers.py and README)")
            bad += 1
            continue
        for f in sorted(os.listdir(os.path.join(src, d))):
            path = os.path.join(src, d, f)
            with open(path, encoding="utf-8") as fh:
                for n, line in enumerate(fh, 1):
                    m = re.match(r'\s*#\s*include\s+"([a-z_]+)/', line)
                    if not m or m.group(1) == d or m.group(1) == "batteryml":
                        continue
                    dep = m.group(1)
                    if dep not in RANK or RANK[dep] >= RANK[d]:
                        print(f"src/{d}/{f}:{n}: {d} includes {dep}, which is not below it")
                        bad += 1
    print(f"layering: {bad} violation(s)" if bad else "layering: every include goes down")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The library's layering (README "Layout"): each directory of src/ uses only its own code and that of the
layers below it. Two checks, both over every file of src/:

1. includes: a file includes only internal headers ("dir/x.h") of its own directory or of a lower layer;
2. calls through the public headers (include/batteryml/*.h hides where a function lives): every call of a
   public function bml_<object>_<verb>(...) goes to a function defined in the caller's own directory or in a
   lower layer. The directory that defines each public function is found from the definitions in src/.

Prints every use that breaks the layering and exits 1 if there is one.

    python3 tools/check_layers.py [SRC_DIR]
"""
import os
import re
import sys

# lowest first; directories on one line are one layer and do not use each other
LAYERS = [["core"], ["config", "data"], ["splits", "pipelines"], ["ode"], ["nn"], ["models"], ["uncertainty"], ["explain"],
          ["track"], ["run", "sweep"], ["cli"]]
RANK = {d: i for i, layer in enumerate(LAYERS) for d in layer}

DEFINITION = re.compile(r"^(?!static\b)[A-Za-z_][\w \*]*?\b(bml_[a-z0-9_]+)\s*\([^;]*$")
CALL = re.compile(r"\b(bml_[a-z0-9_]+)\s*\(")
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
STRING = re.compile(r'"(?:\\.|[^"\\\n])*"')


def code_of(text):
    """the text without comments and string literals, line numbers kept"""
    text = COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return STRING.sub('""', text)


def allowed(user, owner):
    return user == owner or RANK[owner] < RANK[user]


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    bad = 0
    files = {}
    for d in sorted(os.listdir(src)):
        if not os.path.isdir(os.path.join(src, d)):
            continue
        if d not in RANK:
            print(f"src/{d}: a directory that is in no layer (add it to tools/check_layers.py and README)")
            bad += 1
            continue
        for f in sorted(os.listdir(os.path.join(src, d))):
            with open(os.path.join(src, d, f), encoding="utf-8") as fh:
                files[(d, f)] = fh.read()

    # 1. includes
    for (d, f), text in files.items():
        for n, line in enumerate(text.split("\n"), 1):
            m = re.match(r'\s*#\s*include\s+"([a-z_]+)/', line)
            if not m or m.group(1) == d or m.group(1) == "batteryml":
                continue
            dep = m.group(1)
            if dep not in RANK or not allowed(d, dep):
                print(f"src/{d}/{f}:{n}: {d} includes {dep}, which is not below it")
                bad += 1

    # 2. calls of public functions, wherever their header is
    owner = {}
    for (d, f), text in files.items():
        if not f.endswith(".c"):
            continue
        for line in code_of(text).split("\n"):
            m = DEFINITION.match(line)
            if m:
                owner.setdefault(m.group(1), set()).add(d)
    n_calls = 0
    for (d, f), text in files.items():
        for n, line in enumerate(code_of(text).split("\n"), 1):
            for m in CALL.finditer(line):
                name = m.group(1)
                for o in sorted(owner.get(name, ())):
                    n_calls += 1
                    if not allowed(d, o):
                        print(f"src/{d}/{f}:{n}: {d} calls {name}, defined in {o}, which is not below it")
                        bad += 1
    if bad:
        print(f"layering: {bad} violation(s)")
    else:
        print(f"layering: every include and every call of the {len(owner)} public functions ({n_calls} calls) goes down")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

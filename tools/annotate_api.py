#!/usr/bin/env python3
"""Mark every function declared in the public headers with BML_API (idempotent).

The shared library is built with hidden visibility: only what carries BML_API is exported. Run after adding
a public function: python3 tools/annotate_api.py include/batteryml/*.h"""
import re
import sys

DECL = re.compile(r'^(?!BML_API |typedef |struct |#|/\*| \*|static |extern |return )([A-Za-z_][A-Za-z_0-9 *]*[ *])(bml_[a-z0-9_]+)\(')

for path in sys.argv[1:]:
    lines = open(path).read().split('\n')
    out, changed, depth = [], False, 0
    for i, line in enumerate(lines):
        if depth == 0 and DECL.match(line):
            line = 'BML_API ' + line
            changed = True
        # braces of struct and enum bodies; not those of the extern "C" block
        cplusplus = line.startswith('extern "C"') or (line == '}' and i > 0 and lines[i - 1] == '#ifdef __cplusplus')
        if not cplusplus:
            depth += line.count('{') - line.count('}')
        out.append(line)
    text = '\n'.join(out)
    if changed and '#include "batteryml/export.h"' not in text and not path.endswith('export.h'):
        # after the header guard's #define
        text = re.sub(r'(#define BATTERYML_[A-Z_]+_H\n)', r'\1\n#include "batteryml/export.h"\n', text, count=1)
    if changed:
        open(path, 'w').write(text)
        print(f'{path}: annotated')

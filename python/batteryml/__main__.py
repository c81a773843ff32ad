"""`python -m batteryml ARGS` (and the venv's `batteryml` command): runs the `batteryml` program with ARGS.

The program is looked up in this order: $BATTERYML_CLI, the package's own copy (batteryml/_prefix/bin, put
there by `pip install ./python` from a source tree with a C build), the program beside the library the package
loaded (a build folder), and <prefix>/bin/batteryml of an installed library (<prefix>/<libdir>/libbatteryml.so.0).
The program replaces this interpreter (exec): its exit status, output and signals are the program's own.
"""
import os
import sys
from typing import List, Optional


def program() -> Optional[str]:
    """The path of the `batteryml` program this package runs, or None."""
    env = os.environ.get("BATTERYML_CLI")
    if env:
        return env
    from ._lib import PREFIX, library_path
    cands = [os.path.join(PREFIX, "bin", "batteryml")]
    lib = os.path.realpath(library_path) if os.path.isabs(library_path) else None
    if lib is None:  # found by the loader: where it lies
        try:
            with open("/proc/self/maps") as f:
                for line in f:
                    if "libbatteryml.so" in line and "/" in line:
                        lib = line[line.index("/"):].strip()
                        break
        except OSError:
            pass
    if lib is not None:
        d = os.path.dirname(lib)
        cands += [os.path.join(d, "batteryml"), os.path.join(d, "..", "bin", "batteryml"),
                  os.path.join(d, "..", "..", "bin", "batteryml")]
    for c in cands:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.normpath(c)
    return None


def main(argv: Optional[List[str]] = None) -> int:
    """Run the program with argv (default: this process's arguments); returns only when it cannot be run."""
    args = sys.argv[1:] if argv is None else list(argv)
    exe = program()
    if exe is None:
        print("batteryml: the batteryml program was not found (install the package from a source tree with a C "
              "build, pip install ./python, or set BATTERYML_CLI)", file=sys.stderr)
        return 127
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(exe, [exe] + args)
    except OSError as e:
        print("batteryml: cannot run %s: %s" % (exe, e.strerror or e), file=sys.stderr)
        return 126
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())

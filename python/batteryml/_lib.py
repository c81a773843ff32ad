"""The shared library libbatteryml.so.0 through cffi (ABI mode: no compiler needed at install time).

`ffi` and `lib` expose every public C function under its C name (declarations in _cdef.h, generated from
include/batteryml/*.h by tools/gen_cdef.py, which also writes _ffi.py: the same declarations parsed once).
`check(status)` turns a failing bml_status into `Error` carrying the library's own message (bml_last_error(),
read on the calling thread right after the call).

The library is looked up in this order: $BATTERYML_LIBRARY (a path), the package's own copy (batteryml/_prefix/,
put there by `pip install ./python` from a source tree with a C build: setup.py), the system's loader
(libbatteryml.so.0 installed under a prefix the loader searches, or on LD_LIBRARY_PATH), <sys.prefix>/lib, and
the build folder of the source tree this package sits in (build/ beside python/).
"""
from __future__ import annotations

import glob
import os
import sys
import threading
from typing import Any, Callable, Iterator, Optional, Tuple

__all__ = ["ffi", "lib", "library_path", "check", "Error", "string", "take_string", "call_cancellable",
           "run_cancellable"]


class Error(ValueError):
    """A BatteryML library call failed; the message is the library's (file, line and column for data errors).

    Parameters
    ----------
    message : str
        What went wrong.
    status : str, optional
        The symbolic status name, e.g. "BML_ERR_PARSE".

    Attributes
    ----------
    status : str or None
        The symbolic status name.

    Examples
    --------
    >>> try:  # doctest: +SKIP
    ...     batteryml.run(["model=nosuchmodel"])
    ... except batteryml.Error as e:
    ...     print(e.status, e)
    """

    def __init__(self, message: str, status: "str | None" = None) -> None:
        super().__init__(message)
        self.status = status


try:  # the declarations parsed once, by tools/gen_cdef.py (out-of-line ABI mode)
    from ._ffi import ffi
except Exception:  # a cffi that cannot load that file: parse the header (~0.1 s)
    import cffi
    ffi = cffi.FFI()
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_cdef.h")) as _f:
        ffi.cdef(_f.read())


def _candidates() -> Iterator[str]:
    env = os.environ.get("BATTERYML_LIBRARY")
    if env:
        yield env
        return
    yield from carried_library()
    yield "libbatteryml.so.0"
    for libdir in ("lib", "lib64", "lib/x86_64-linux-gnu"):
        yield os.path.join(sys.prefix, libdir, "libbatteryml.so.0")
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "..", "..", "build", "libbatteryml.so.0")


PREFIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_prefix")


def carried_library() -> Iterator[str]:
    """The package's own copy of libbatteryml.so.0 (<libdir> as the C build installs it), if it carries one."""
    for pattern in ("lib*/libbatteryml.so.0", "lib*/*/libbatteryml.so.0"):
        yield from sorted(glob.glob(os.path.join(PREFIX, pattern)))


def _open() -> Tuple[Any, str]:
    tried = []
    for path in _candidates():
        try:
            handle = ffi.dlopen(path)
        except OSError as e:
            tried.append("%s (%s)" % (path, e))
            continue
        return handle, path
    raise ImportError("batteryml: cannot load libbatteryml.so.0; tried: " + "; ".join(tried) +
                      ". Install the package from a source tree with a C build (pip install ./python), install the C "
                      "library (cmake --install), or set BATTERYML_LIBRARY to its path.")


lib, library_path = _open()


def string(p: Any) -> Optional[str]:
    """A C string (char *) as str; None for NULL."""
    return None if p == ffi.NULL else ffi.string(p).decode("utf-8", "replace")


def take_string(p: Any) -> Optional[str]:
    """A malloc'ed C string the library handed over as str (None for NULL), freed with bml_free."""
    if p == ffi.NULL:
        return None
    try:
        return string(p)
    finally:
        lib.bml_free(p)


def check(status: int) -> int:
    """Raise Error with the library's message when status is not BML_OK (0)."""
    if status != 0:
        raise Error(string(lib.bml_last_error()) or string(lib.bml_status_describe(status)),
                    string(lib.bml_status_name(status)))
    return status


def _wait(flag: Any, work: Callable[[], None]) -> Optional[BaseException]:
    """Run work() in a helper thread and wait for it to end, whatever comes: a KeyboardInterrupt (Ctrl-C) or
    another exception raised in this thread while it waits sets *flag (the library stops at its next check)
    and the wait goes on. Returns the KeyboardInterrupt, if one came (to be raised once the work has ended);
    another exception is raised once it has ended.

    The end is told by an Event, not by Thread.join: a join that a KeyboardInterrupt cuts short can leave the
    thread marked as ended while it still runs (CPython 3.11's _wait_for_tstate_lock releases the running
    thread's lock on any exception), after which the caller would free what the library is still using.

    A Ctrl-C can also cut Thread.start short, before or after the thread came to be (it waits for the new
    thread to say it started): then another thread is started, and whichever begins first runs work(), the
    others nothing, so that work() runs exactly once and is always waited for."""
    done = threading.Event()
    claim = threading.Lock()
    state = {"claimed": False}

    def body():
        with claim:
            if state["claimed"]:
                return
            state["claimed"] = True
        try:
            work()
        finally:
            done.set()
    interrupted = other = None
    launched = cut_short = False
    while True:
        try:
            if not launched:
                try:
                    threading.Thread(target=body, name="batteryml-call", daemon=True).start()
                except Exception as e:  # noqa: B902 - no thread came to be: unless a start cut short began one,
                    if not cut_short or not _claimed_within(claim, state, 10.0):  # nothing runs: raise it
                        raise _StartFailed(e) from e
                except BaseException:  # noqa: B902 - a signal's exception cut the start short: it may have begun
                    cut_short = True
                    raise
                launched = True
            while not done.wait(0.05):
                pass
            break
        except _StartFailed as e:
            raise e.__cause__ from None
        except KeyboardInterrupt as e:  # stop the library, then raise it
            interrupted = e
            flag[0] = 1
        except BaseException as e:  # noqa: B902 - e.g. SystemExit from a signal handler: stop, then raise
            other = other or e
            flag[0] = 1
    if other is not None:
        raise other
    return interrupted


class _StartFailed(Exception):
    """No helper thread could be started (the cause): nothing runs, nothing to wait for."""


def _claimed_within(claim: Any, state: Any, seconds: float) -> bool:
    """Whether a helper thread has begun the work within the time (after a start a Ctrl-C cut short)."""
    import time
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with claim:
            if state["claimed"]:
                return True
        time.sleep(0.01)
    return False


def call_cancellable(flag: Any, fn: Callable[..., int], *args: Any) -> int:
    """Run the library call fn(*args) in a helper thread (cffi releases the GIL) while this thread waits, so
    that Ctrl-C arrives at once: KeyboardInterrupt sets *flag (the call's cancel flag: bml_run_opts.cancel,
    bml_model_set_cancel), waits for the library to stop (BML_ERR_CANCELLED, nothing left half-written) and is
    raised. Otherwise raises Error with the message the failing call left in its own thread, or returns."""
    result = {}

    def work():
        st = fn(*args)
        result["status"] = st
        if st != 0:  # the message is thread-local: read it in the calling thread
            result["error"] = (string(lib.bml_last_error()) or string(lib.bml_status_describe(st)),
                               string(lib.bml_status_name(st)))
    interrupted = _wait(flag, work)
    if interrupted is not None:
        raise interrupted
    if result.get("status", 0) != 0:
        raise Error(*result["error"])
    return 0


def run_cancellable(flag: Any, fn: Callable[[], Any]) -> Any:
    """Run the Python callable fn() (which makes library calls that honour *flag, releasing the GIL while they
    work) in a helper thread while this thread waits, as call_cancellable does for one C call: Ctrl-C sets
    *flag, waits for fn to return and raises KeyboardInterrupt; an exception fn raises is raised here; else
    fn's return value is returned."""
    result = {}

    def work():
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: B902 - handed to the waiting thread
            result["error"] = e
    interrupted = _wait(flag, work)
    if interrupted is not None:
        raise interrupted
    if "error" in result:
        raise result["error"]
    return result.get("value")

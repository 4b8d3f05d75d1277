"""Profiling hook for `benchmarks/noop_pair.py --profile` only (never on a user's path).

`noop_pair` puts this directory on PYTHONPATH with CLAWKER_PYPROFILE_DIR set, so every
Python process of a measured `pulumi` command imports it at start:
- the program (`pulumi-language-python-exec`): cProfile of its main thread, written to
  program-<pid>.prof at exit, plus program-<pid>.txt (start, end, CPU seconds);
- the dynamic-provider process (`-m pulumi.dynamic`): every gRPC call of the provider
  service timed (wall and the serving thread's CPU), one line per call written as it
  ends to provider-<pid>.tsv (the engine kills that process at the end: nothing waits
  for an exit), first line its start.
Other processes are left alone.
"""

import os
import sys
import time

_OUT = os.environ.get("CLAWKER_PYPROFILE_DIR")
_ARGV = " ".join(getattr(sys, "orig_argv", sys.argv))
_STARTED = time.time()


def _program() -> None:
    import atexit
    import cProfile

    profile = cProfile.Profile()
    profile.enable()

    def done() -> None:
        profile.disable()
        pid = os.getpid()
        profile.dump_stats(os.path.join(_OUT, f"program-{pid}.prof"))
        with open(os.path.join(_OUT, f"program-{pid}.txt"), "w") as out:
            out.write(f"start\t{_STARTED:.4f}\nend\t{time.time():.4f}\ncpu\t{time.process_time():.4f}\n")

    atexit.register(done)


def _provider() -> None:
    import functools
    import threading

    from pulumi.runtime.proto import provider_pb2_grpc

    path = os.path.join(_OUT, f"provider-{os.getpid()}.tsv")
    lock = threading.Lock()
    with open(path, "a") as out:
        out.write(f"start\t{_STARTED:.4f}\t\t\t\t\n")

    def timed(name, method):
        @functools.wraps(method)
        def wrapper(request, context):
            wall, cpu = time.time(), time.thread_time()
            try:
                return method(request, context)
            finally:
                line = (f"{name}\t{wall:.4f}\t{time.time() - wall:.4f}\t{time.thread_time() - cpu:.4f}\t"
                        f"{request.ByteSize()}\t{getattr(request, 'urn', '')}\n")
                with lock, open(path, "a") as out:
                    out.write(line)

        return wrapper

    real = provider_pb2_grpc.add_ResourceProviderServicer_to_server

    def add(servicer, server):
        for name in ("Check", "Diff", "Create", "Read", "Update", "Delete", "Configure"):
            setattr(servicer, name, timed(name, getattr(servicer, name)))
        return real(servicer, server)

    provider_pb2_grpc.add_ResourceProviderServicer_to_server = add


if _OUT:
    if "pulumi.dynamic" in _ARGV:
        _provider()
    elif "pulumi-language-python-exec" in _ARGV:
        _program()

'''Wall time spent inside chosen functions while a ``with`` block runs, for the benchmarks'
"share of the time in the network" columns.  Each call is bracketed by a CUDA synchronisation
(when CUDA is present), so GPU work is charged to the call that launched it.'''
import time

import torch


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class CallTimer:
    '''``with CallTimer((owner, 'name'), ...) as t: ...`` replaces each ``owner.name`` by a timed
    wrapper for the block and leaves the total in ``t.seconds``.  Only calls through
    ``owner.name`` are timed, not those through a name imported from the owner beforehand.'''

    def __init__(self, *targets):
        self.targets = targets
        self.seconds = 0.0

    def _timed(self, f):
        def wrapper(*args, **kwargs):
            sync()
            t0 = time.perf_counter()
            try:
                return f(*args, **kwargs)
            finally:
                sync()
                self.seconds += time.perf_counter() - t0
        return wrapper

    def __enter__(self):
        # what the owner itself held (None for an inherited attribute), to put back exactly
        self._saved = [(owner, name, vars(owner).get(name)) for owner, name in self.targets]
        for owner, name in self.targets:
            setattr(owner, name, self._timed(getattr(owner, name)))
        return self

    def __exit__(self, *exc):
        for owner, name, own in self._saved:
            if own is None:
                delattr(owner, name)
            else:
                setattr(owner, name, own)

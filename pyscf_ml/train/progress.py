'''Progress lines, log files and resumable checkpoints shared by the training commands.'''
import os
import sys
import time

import torch

from pyscf_ml.modelcard import sha256_of


class Progress:
    '''Prints ``[step/total] key=value ... eta`` lines to stderr and appends them to a log.

    A resumed run passes the step it resumed at and the seconds already spent, so that elapsed
    counts the whole run and the rate ignores the steps done before; with a time limit (seconds,
    whole run) the eta is whichever ends first, the steps or the clock.'''

    def __init__(self, total, log_path=None, every=1, start_step=0, seconds_before=0.,
                 time_limit=None):
        self.total = total
        self.every = max(1, every)
        self.start_step = start_step
        self.seconds_before = seconds_before
        self.time_limit = time_limit
        self.t0 = time.perf_counter()
        if log_path:
            os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        self.log = open(log_path, 'a') if log_path else None

    def update(self, step, **metrics):
        if step % self.every and step != self.total:
            return
        this_run = time.perf_counter() - self.t0
        elapsed = self.seconds_before + this_run
        eta = this_run / max(step - self.start_step, 1) * (self.total - step)
        if self.time_limit:
            eta = max(0., min(eta, self.time_limit - elapsed))
        fields = ' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}'
                          for k, v in metrics.items())
        line = f'[{step}/{self.total}] {fields} elapsed={elapsed:.0f}s eta={eta:.0f}s'
        print(line, file=sys.stderr, flush=True)
        if self.log:
            self.log.write(line + '\n')
            self.log.flush()

    def close(self):
        if self.log:
            self.log.close()


def save_checkpoint(path, **state):
    '''Atomically write a checkpoint (a dict of tensors, state_dicts and plain values).'''
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path):
    '''The checkpoint dict, or None when ``path`` does not exist.'''
    if not os.path.exists(path):
        return None
    return torch.load(path, map_location='cpu', weights_only=False)


def init_record(name, path=None):
    '''The model card's record of ``--init``: {file, sha256} (None without --init).  ``path`` is
    the file to hash when ``name`` is a model name rather than a path.  Take it before training:
    ``--weights`` may overwrite the starting file.'''
    if not name:
        return None
    return dict(file=name, sha256=sha256_of(path or name))


def init_of_resumed_run(ckpt, record_now):
    '''The ``--init`` record of a resumed run: the one its first start stored in the checkpoint;
    for an older checkpoint without one, ``record_now`` marked as taken at resume.'''
    if 'init' in ckpt:
        return ckpt['init']
    if record_now is None:
        return 'unknown: the checkpoint predates init tracking'
    return dict(record_now, note='hashed at resume: the checkpoint predates init tracking')

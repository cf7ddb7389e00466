'''Where torch inference runs.

Default: CUDA when torch sees a GPU, otherwise CPU.  Override with the environment
variable ``PYSCF_ML_DEVICE`` (e.g. ``cpu``, ``cuda``, ``cuda:1``) or at run time with
:func:`set_device`; ``set_device(None)`` returns to the automatic choice.
'''
import os

import torch

_override = None


def set_device(device):
    '''Select the torch device for all pyscf_ml inference (None: automatic).'''
    global _override
    _override = None if device is None else torch.device(device)


def get_device():
    '''The torch device used for inference, with its index for CUDA (``cuda:0``, not ``cuda``).'''
    if _override is not None:
        return _indexed(_override)
    env = os.environ.get('PYSCF_ML_DEVICE')
    if env:
        return _indexed(torch.device(env))
    return _indexed(torch.device('cuda' if torch.cuda.is_available() else 'cpu'))


def resolve_device(device=None):
    '''``device`` (a name or torch.device) with its CUDA index, or :func:`get_device` for None.'''
    return get_device() if device is None else _indexed(torch.device(device))


def _indexed(device):
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            raise RuntimeError(f'pyscf_ml was asked to run on {device} (PYSCF_ML_DEVICE or '
                               f'set_device), but torch sees no CUDA device; use cpu')
        # torch.device('cuda') means "the current CUDA device" but compares unequal to the
        # cuda:0 that tensors and parameters report, so a cache keyed on the device would
        # miss on every call; resolve the index here, once, for every caller
        if device.index is None:
            return torch.device('cuda', torch.cuda.current_device())
    return device

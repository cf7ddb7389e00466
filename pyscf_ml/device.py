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
    '''The torch device used for inference.'''
    if _override is not None:
        return _override
    env = os.environ.get('PYSCF_ML_DEVICE')
    if env:
        return torch.device(env)
    return torch.device('cuda' if torch.cuda.is_available() else 'cpu')

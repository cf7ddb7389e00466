'''Reading and writing NN-functional weights.

Two formats are accepted:
- ours: ``torch.save({'format': 'pyscf_ml.xc/1', 'form': 'nn-gga', 'state_dict': {...}})``,
  optionally with a JSON model card beside it (same stem, ``.json``) whose sha256 is checked;
- the published legacy files of Nagai et al.: a bare ``state_dict`` with keys fc1..fc4.
The state_dict returned always has the form's gradient floor ``t2_floor`` (0 when the file
has none: the published form).
'''
import os

import torch

from pyscf_ml.modelcard import WeightFileError, read_card, verify_weights
from pyscf_ml.xc.forms import WIDTH, form_spec

FORMAT = 'pyscf_ml.xc/1'
_KEYS = ('fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias',
         'fc3.weight', 'fc3.bias', 'fc4.weight', 'fc4.bias')


def card_path_for(weights_path):
    return os.path.splitext(weights_path)[0] + '.json'


def load_state_dict(path, form):
    '''float64 state_dict for ``form`` from ``path``; WeightFileError names the file.'''
    spec = form_spec(form)
    if not os.path.isfile(path):
        raise WeightFileError(f'weight file {path} not found')
    card = card_path_for(path)
    if os.path.isfile(card):
        verify_weights(path, read_card(card))
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # torch raises many types for truncated or foreign files
        raise WeightFileError(f'weight file {path} is corrupt or not a torch file: {e}') from None
    if isinstance(obj, dict) and obj.get('format') == FORMAT:
        if obj.get('form') != spec.name:
            raise WeightFileError(f'weight file {path} holds form {obj.get("form")!r}, '
                                  f'not {spec.name!r}')
        obj = obj['state_dict']
    if not isinstance(obj, dict) or any(k not in obj for k in _KEYS):
        raise WeightFileError(f'weight file {path} is not an NN-functional state_dict '
                              f'(expected keys {", ".join(_KEYS)})')
    expected = {'fc1.weight': (WIDTH, spec.n_features), 'fc4.weight': (1, WIDTH)}
    for key, shape in expected.items():
        if tuple(obj[key].shape) != shape:
            raise WeightFileError(f'weight file {path}: {key} has shape {tuple(obj[key].shape)}, '
                                  f'form {spec.name} needs {shape}')
    state = {k: obj[k].to(torch.float64) for k in _KEYS}
    state['t2_floor'] = torch.as_tensor(obj.get('t2_floor', 0.0), dtype=torch.float64)
    if state['t2_floor'].ndim != 0 or not state['t2_floor'] >= 0:
        raise WeightFileError(f'weight file {path}: t2_floor must be a number >= 0')
    if not all(torch.isfinite(v).all() for v in state.values()):
        raise WeightFileError(f'weight file {path} contains NaN or inf')
    return state


def save_state_dict(path, form, state_dict):
    '''Write weights in our format (float64).'''
    spec = form_spec(form)
    state = {k: v.detach().to('cpu', torch.float64).clone() for k, v in state_dict.items()}
    torch.save({'format': FORMAT, 'form': spec.name, 'state_dict': state}, path)

'''Names of learned functionals -> NNFunctional objects.

Names are case-insensitive.  The four shipped names resolve to weights in
``pyscf_ml/weights`` (loaded on first use); users add their own with :func:`register`.
'''
import os
import re

from pyscf_ml import weights
from pyscf_ml.xc.forms import FORMS, form_spec
from pyscf_ml.xc.functional import NNFunctional

SHIPPED = {name: f'{name.replace("-", "_")}.pt' for name in FORMS}

_REGISTRY = {}


class UnknownFunctionalError(KeyError):
    def __str__(self):
        return self.args[0]


def _key(name):
    return name.strip().lower()


def lookup(xc_code):
    '''The NNFunctional registered as ``xc_code``, or None (also for non-strings).'''
    if not isinstance(xc_code, str):
        return None
    return _REGISTRY.get(_key(xc_code))


def registered_names():
    return sorted(_REGISTRY)


def unknown_name_error(xc_code):
    return UnknownFunctionalError(
        f'unknown learned functional {xc_code!r}; registered learned functionals are: '
        f'{", ".join(registered_names())} (register more with pyscf_ml.xc.register)')


class MixedFunctionalError(UnknownFunctionalError):
    '''A learned name inside a compound xc string, which PySCF's parser cannot evaluate.'''


def registered_parts(xc_code):
    '''Registered names among the terms of a compound xc string ('nn-gga, pbe',
    '0.5*nn-gga + 0.5*b3lyp'); empty for anything else.  Terms are split at spaces, commas,
    + * and parentheses only, so 'pbe-nn-gga' or 'nn-gga-d3bj' are not recognised here (PySCF
    or the unknown-name error answers them).'''
    if not isinstance(xc_code, str):
        return []
    terms = (t.lstrip('-') for t in re.split(r'[\s,+*()]+', _key(xc_code)))
    return sorted({t for t in terms if t in _REGISTRY})


def mixed_name_error(xc_code, parts):
    return MixedFunctionalError(
        f'learned functional(s) {", ".join(parts)} cannot be scaled, summed or paired with '
        f'another functional in {xc_code!r}; use one alone, e.g. mf.xc = {parts[0]!r}')


def register(name, form, weights_path, *, overwrite=False):
    '''Make ``mf.xc = name`` use the network ``form`` ('nn-lsda', 'nn-gga', 'nn-metagga' or
    'nn-nra') with the weights in ``weights_path`` (our format or the published legacy
    files).  The weights are read and checked now; a bad file raises WeightFileError.'''
    fn = NNFunctional(_key(name), form_spec(form).name, os.path.abspath(weights_path))
    return register_functional(fn.load(), overwrite=overwrite)


def register_functional(fn, *, overwrite=False):
    '''Register a ready :class:`~pyscf_ml.xc.functional.TorchFunctional` under ``fn.name``
    (any torch energy model, e.g. the reference PBE used to validate the integrator).'''
    _check_name(fn.name, overwrite)
    fn.name = _key(fn.name)
    _REGISTRY[fn.name] = fn
    return fn


def _check_name(name, overwrite):
    from pyscf_ml.xc import pyscf_hooks
    key = _key(name)
    if not key or any(c in key for c in ' ,+*()'):
        raise ValueError(f'invalid functional name {name!r}: no spaces, commas, + * ( )')
    # alone, or as an exchange or correlation part ('b86' is no libxc name, but 'b86,' is)
    if any(pyscf_hooks.pyscf_knows(code) for code in (key, key + ',', ',' + key)):
        raise ValueError(f'{name!r} is already a functional name PySCF knows; '
                         f'pick another name')
    if key in _REGISTRY and not overwrite:
        raise ValueError(f'{name!r} is already registered (pass overwrite=True to replace)')


def unregister(name):
    _REGISTRY.pop(_key(name), None)


def register_shipped():
    '''Register the shipped names; their weights are read on first use.'''
    for name, filename in SHIPPED.items():
        _REGISTRY.setdefault(name, NNFunctional(name, name, weights.path(filename)))

'''Make registered learned functionals answer wherever PySCF reads ``mf.xc``.

PySCF resolves a functional name through module functions of ``pyscf.dft.libxc`` (type,
hybrid and NLC coefficients, derivative order, evaluation) and evaluates it through
``NumInt.eval_xc_eff``.  Each of those is wrapped once: a registered name is answered by
pyscf_ml, every other argument goes to the original function untouched, so no name PySCF
already knows changes meaning.  Nonlocal forms (NN-NRA) also route ``NumInt.nr_rks/nr_uks`` and
the gradient ``get_vxc`` functions to whole-grid implementations.  ``install()`` is idempotent.
'''
import functools
import warnings

from pyscf.dft import libxc, numint
from pyscf.grad import rks as rks_grad
from pyscf.grad import uks as uks_grad

from pyscf_ml.xc import nonlocal_grad, nonlocal_numint, registry

REFERENCE = ('R. Nagai, R. Akashi, O. Sugino, "Completing density functional theory by '
             'machine learning hidden messages from molecules", npj Comput. Mater. 6, 43 (2020)')

_MARK = '_pyscf_ml_original'


def _resolve(xc_code, original, *args, **kwargs):
    '''The registered functional for xc_code, or None when PySCF should answer.  A compound
    string with a registered name in it that PySCF cannot parse, and an 'nn-...' name that
    neither pyscf_ml nor PySCF knows, get errors that say so.'''
    fn = registry.lookup(xc_code)
    if fn is None:
        parts = registry.registered_parts(xc_code)
        if parts and not pyscf_knows(xc_code):
            raise registry.mixed_name_error(xc_code, parts)
    if fn is None and isinstance(xc_code, str) and xc_code.strip().lower().startswith('nn-'):
        try:
            original(xc_code, *args, **kwargs)
        except KeyError:
            raise registry.unknown_name_error(xc_code) from None
    return fn


def _wrap(owner, name, answer):
    '''Replace owner.name by a function that calls ``answer(fn, *args)`` for registered names.'''
    original = getattr(owner, name)
    if getattr(original, _MARK, None) is not None:
        return  # already installed
    is_method = isinstance(owner, type)

    if is_method:
        @functools.wraps(original)
        def wrapper(self, xc_code, *args, **kwargs):
            fn = registry.lookup(xc_code)
            if fn is None:
                return original(self, xc_code, *args, **kwargs)
            return answer(fn, self, *args, **kwargs)
    else:
        @functools.wraps(original)
        def wrapper(xc_code, *args, **kwargs):
            fn = _resolve(xc_code, original, *args, **kwargs)
            if fn is None:
                return original(xc_code, *args, **kwargs)
            return answer(fn, *args, **kwargs)
    setattr(wrapper, _MARK, original)
    setattr(owner, name, wrapper)


def _nonlocal_only(owner, name, answer):
    '''Wrap owner.name so that only nonlocal learned functionals are redirected.'''
    original = getattr(owner, name)
    if getattr(original, _MARK, None) is not None:
        return

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        # every wrapped signature starts (ni, mol, grids, xc_code, dms, ...)
        xc_code = args[3] if len(args) > 3 else kwargs.get('xc_code')
        fn = registry.lookup(xc_code)
        if fn is None or not fn.is_nonlocal:
            return original(*args, **kwargs)
        return answer(fn, *args, **kwargs)
    setattr(wrapper, _MARK, original)
    setattr(owner, name, wrapper)


def _max_deriv(fn):
    return 1 if fn.is_nonlocal else 2


def _test_deriv_order(fn, deriv, raise_error=False):
    ok = deriv <= _max_deriv(fn)
    if not ok and raise_error:
        raise NotImplementedError(f'{fn.name} supports XC derivatives up to order '
                                  f'{_max_deriv(fn)}, not {deriv}')
    return ok


def _eval_xc1(fn, *args, **kwargs):
    raise NotImplementedError(f'{fn.name}: libxc.eval_xc1 (xcfun-ordered output) is not '
                              f'provided; use NumInt.eval_xc_eff or libxc.eval_xc')


def _grid_args(args, kwargs):
    '''(ni, mol, grids, dms, hermi, max_memory) from a numint/grad call signature.'''
    ni, mol, grids = args[:3]
    dms = args[4] if len(args) > 4 else kwargs['dms']
    hermi = args[6] if len(args) > 6 else kwargs.get('hermi', 1)
    max_memory = args[7] if len(args) > 7 else kwargs.get('max_memory', 2000)
    return ni, mol, grids, dms, hermi, max_memory


def _whole_grid(target):
    '''Adapter from a numint/grad call signature to ``target(ni, fn, mol, grids, dms, hermi,
    max_memory)``.'''
    def answer(fn, *args, **kwargs):
        ni, mol, grids, dms, hermi, max_memory = _grid_args(args, kwargs)
        return target(ni, fn, mol, grids, dms, hermi, max_memory)
    return answer


def _without_grid_response(grad_fn):
    def answer(fn, *args, **kwargs):
        warnings.warn(f'{fn.name}: grid response is not implemented for nonlocal learned '
                      f'functionals; the XC gradient omits it (measured up to 4e-4 Ha/bohr at '
                      f'grid level 3, 1e-4 at level 5; use finer grids for tighter forces)',
                      stacklevel=3)
        return grad_fn(fn, *args, **kwargs)
    return answer


def pyscf_knows(name):
    '''True if PySCF itself (libxc or its aliases) resolves ``name``.'''
    original = getattr(libxc.xc_type, _MARK, libxc.xc_type)
    try:
        original(name)
        return True
    except (KeyError, ValueError, NotImplementedError):
        return False


def install():
    '''Install the wrappers (idempotent).'''
    answers = {
        'xc_type': lambda fn: fn.xctype,
        'is_hybrid_xc': lambda fn: False,
        'is_nlc': lambda fn: False,   # NRA is not a VV10-type NLC term; see nonlocal_numint
        'hybrid_coeff': lambda fn, spin=0: 0.0,
        'rsh_coeff': lambda fn: (0.0, 0.0, 0.0),
        'nlc_coeff': lambda fn: (),
        'needs_laplacian': lambda fn: False,
        'max_deriv_order': _max_deriv,
        'test_deriv_order': _test_deriv_order,
        'xc_reference': lambda fn: [REFERENCE, f'weights: {getattr(fn, "weights_path", "-")}'],
        'eval_xc': lambda fn, rho, spin=0, relativity=0, deriv=1, omega=None, verbose=None:
            fn.eval_libxc(rho, spin, deriv),
        'eval_xc1': _eval_xc1,
        'eval_xc_eff': lambda fn, rho, deriv=1, omega=None, spin=None:
            fn.eval_eff(rho, deriv, spin)[deriv],
    }
    for name, answer in answers.items():
        _wrap(libxc, name, answer)
    _wrap(numint.LibXCMixin, 'eval_xc_eff',
          lambda fn, ni, rho, deriv=1, omega=None, xctype=None, verbose=None, spin=None:
          fn.eval_eff(rho, deriv, spin))
    grad_rks = _whole_grid(nonlocal_grad.get_vxc_rks)
    grad_uks = _whole_grid(nonlocal_grad.get_vxc_uks)
    _nonlocal_only(numint.NumInt, 'nr_rks', _whole_grid(nonlocal_numint.nr_rks))
    _nonlocal_only(numint.NumInt, 'nr_uks', _whole_grid(nonlocal_numint.nr_uks))
    _nonlocal_only(rks_grad, 'get_vxc', grad_rks)
    _nonlocal_only(uks_grad, 'get_vxc', grad_uks)
    _nonlocal_only(rks_grad, 'get_vxc_full_response', _without_grid_response(grad_rks))
    _nonlocal_only(uks_grad, 'get_vxc_full_response', _without_grid_response(grad_uks))

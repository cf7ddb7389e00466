'''Kinetic-energy functionals for orbital-free DFT and the interface they share.

A functional is split in two parts:

* ``vw_coeff``: a multiple of the von Weizsaecker term.  For rho = N psi^2 the solver evaluates
  it exactly as Tr(T D) with the AO kinetic matrix (no grid error), which is what makes
  ``kinetic='vw'`` reproduce RKS for two-electron systems.
* ``energy_and_potential(rho, grid)``: the remaining part on the quadrature grid.  ``rho`` is
  (ng,) when ``xctype == 'LDA'`` and (4, ng) = (rho, d/dx, d/dy, d/dz) when ``'GGA'``.  It
  returns ``(e, v)`` with ``e = sum_g w_g eps_g`` and ``v`` shaped like ``rho``: v[0] is the
  partial derivative of the energy density by rho (for a local functional this is the functional
  derivative), v[1:4] the partial derivative by grad rho (used in weak form, as PySCF does for
  GGA XC).  Non-local functionals return the functional derivative at the grid points.

Plug in your own functional by subclassing :class:`KineticFunctional`.
'''
import re
from fractions import Fraction

import numpy as np

C_F = 0.3 * (3 * np.pi**2)**(2. / 3)   # Thomas-Fermi constant
RHO_FLOOR = 1e-30                     # avoids 0/0 in vW far from the molecule


class GridData:
    '''What a grid functional may look at besides rho: the molecule, points and weights.'''

    def __init__(self, mol, coords, weights):
        self.mol = mol
        self.coords = coords
        self.weights = weights


class KineticFunctional:
    '''Base class: ``vw_coeff * T_vW`` (analytic) plus a grid part (none here).'''
    vw_coeff = 0.0
    xctype = 'LDA'
    name = 'none'

    def energy_and_potential(self, rho, grid):
        return 0.0, np.zeros_like(rho)

    @property
    def has_grid_part(self):
        return True

    def check_mol(self, mol):
        '''Raise ValueError if the functional cannot describe ``mol``.'''

    def __repr__(self):
        return f'<{type(self).__name__} {self.name}>'


class ThomasFermi(KineticFunctional):
    name = 'tf'
    xctype = 'LDA'

    def energy_and_potential(self, rho, grid):
        r = np.maximum(rho[0] if rho.ndim == 2 else rho, 0)
        r23 = r**(2. / 3)
        e = C_F * np.dot(grid.weights, r * r23)
        v = np.zeros_like(rho)
        if rho.ndim == 2:
            v[0] = 5. / 3 * C_F * r23
        else:
            v[:] = 5. / 3 * C_F * r23
        return e, v


class VonWeizsaeckerGrid(KineticFunctional):
    '''T_vW = int |grad rho|^2 / (8 rho) on the grid (for plug-in use and checks; the solver
    normally takes the exact matrix form through ``vw_coeff``).'''
    name = 'vw-grid'
    xctype = 'GGA'

    def energy_and_potential(self, rho, grid):
        r = np.maximum(rho[0], RHO_FLOOR)
        g = rho[1:4]
        sigma = np.einsum('xg,xg->g', g, g)
        e = np.dot(grid.weights, sigma / (8 * r))
        v = np.empty_like(rho)
        v[0] = -sigma / (8 * r * r)
        v[1:4] = g / (4 * r)
        return e, v


class Combined(KineticFunctional):
    '''sum_i c_i F_i + vw_coeff * T_vW (analytic).'''

    def __init__(self, terms, vw_coeff=0.0, name=None):
        self.terms = [(float(c), f) for c, f in terms]
        self.vw_coeff = float(vw_coeff) + sum(c * f.vw_coeff for c, f in self.terms)
        self.xctype = 'GGA' if any(f.xctype == 'GGA' for _, f in self.terms) else 'LDA'
        self.name = name or '+'.join(f'{c:g}*{f.name}' for c, f in self.terms)

    @property
    def has_grid_part(self):
        return bool(self.terms)

    def check_mol(self, mol):
        for _, f in self.terms:
            f.check_mol(mol)

    def energy_and_potential(self, rho, grid):
        e = 0.0
        v = np.zeros_like(rho)
        for c, f in self.terms:
            if f.xctype == 'LDA' and self.xctype == 'GGA':
                ei, vi = f.energy_and_potential(rho[0], grid)
                v[0] += c * vi
            else:
                ei, vi = f.energy_and_potential(rho, grid)
                v += c * vi
            e += c * ei
        return e, v


def _kineticnet(**kwargs):
    from pyscf_ml.ofdft.learned import KineticNetFunctional
    return KineticNetFunctional(**kwargs)


# grid functionals known by name; 'vw' is handled separately (analytic)
GRID_FUNCTIONALS = {
    'tf': ThomasFermi,
    'vw-grid': VonWeizsaeckerGrid,
    'kineticnet': _kineticnet,
}

_TERM = re.compile(r'^\s*([0-9]*\.?[0-9]*(?:/[0-9]+)?)\s*\*?\s*([a-z][a-z0-9\-]*)\s*$')


def parse(kinetic):
    '''A :class:`KineticFunctional` from a name such as 'tf', 'vw', 'tf+vw', 'tf+1/9vw',
    '0.5*tf+vw' or 'kineticnet' (T_vW + learned Pauli term), or the object itself.'''
    if isinstance(kinetic, KineticFunctional):
        return kinetic
    if not isinstance(kinetic, str) or not kinetic.strip():
        raise ValueError(f'kinetic functional must be a name or a KineticFunctional, '
                         f'got {kinetic!r}')
    terms, vw = [], 0.0
    for part in kinetic.lower().split('+'):
        m = _TERM.match(part)
        if not m:
            raise ValueError(f'cannot parse kinetic functional term {part!r} in {kinetic!r}')
        try:
            coeff = float(Fraction(m.group(1))) if m.group(1) else 1.0
        except (ValueError, ZeroDivisionError):     # '1/0vw', '.vw', '1.5/2vw'
            raise ValueError(f'bad coefficient in kinetic functional term {part!r} '
                             f'in {kinetic!r}') from None
        name = m.group(2)
        if name == 'vw':
            vw += coeff
        elif name in GRID_FUNCTIONALS:
            terms.append((coeff, GRID_FUNCTIONALS[name]()))
        else:
            known = ', '.join(['vw'] + sorted(GRID_FUNCTIONALS))
            raise ValueError(f'unknown kinetic functional {name!r} in {kinetic!r}; '
                             f'known: {known}')
    return Combined(terms, vw, name=kinetic.lower())

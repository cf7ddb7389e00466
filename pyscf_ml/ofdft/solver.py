'''Orbital-free DFT with the density represented as rho = N psi^2, psi = sum_mu a_mu chi_mu.

The density matrix is rank one, D = N a a^T / (a^T S a): rho >= 0 and int rho = N hold by
construction, T_vW = Tr(T D) is exact, and J (PySCF's exact J, or density fitting over
screened atom pairs, :mod:`pyscf_ml.ofdft.coulomb`) and libxc XC apply.  E(a) is minimised
with L-BFGS (scipy) in coordinates a = X c with X the eigenvectors of the kinetic matrix in the
orthonormalised AO space scaled by 1/sqrt(t + 1) (a kinetic preconditioner); the analytic
gradient is

    dE/da = 2N/s (F a - (a^T F a / s) S a),   s = a^T S a,   F = dE/dD.

Only F a is needed: the grid part needs psi = sum a_mu chi_mu on the grid, with AO values stored
only where they are non-zero (:mod:`pyscf_ml.ofdft.aogrid`), and the density-fitted J acts on
the vector a without forming D.
Measured facts behind this design: /shared/docs/ofdft.md (DIIS diverges with TF; contracted
bases give artefacts).
'''
import warnings

import numpy as np
import scipy.optimize
from pyscf import dft, gto, lib, scf
from pyscf.lib import logger

from pyscf_ml.ofdft import kinetic as kinetic_mod
from pyscf_ml.ofdft.aogrid import SparseAOGrid
from pyscf_ml.ofdft.coulomb import ScreenedDFJ


class OFDFTWarning(UserWarning):
    '''The density optimisation did not converge.'''


def _ao_grid(of):
    '''AO values (and first derivatives when needed) on the grid, made once per build.'''
    if of._aogrid is None:
        deriv = 1 if of._xctype == 'GGA' else 0
        of._aogrid = SparseAOGrid(of.mol, of.grids.coords, deriv, of.max_memory,
                                  logger.new_logger(of))
    return of._aogrid


def psi_on_grid(of, a):
    '''psi (and grad psi for GGA) on the grid, shape (ng,) or (4, ng).'''
    return _ao_grid(of).values(a)


def rho_on_grid(of, a, psi=None, s=None):
    '''rho = N psi^2 / (a^T S a) on the grid: (ng,) for LDA, (4, ng) with grad rho for GGA.
    ``psi`` (psi_on_grid) and ``s`` (a^T S a) may be passed when already computed.'''
    nelec = of.mol.nelectron
    if s is None:
        s = a @ of._ovlp @ a
    if psi is None:
        psi = psi_on_grid(of, a)
    if psi.ndim == 1:
        return nelec / s * psi**2
    rho = np.empty_like(psi)
    rho[0] = nelec / s * psi[0]**2
    rho[1:4] = 2 * nelec / s * psi[0] * psi[1:4]
    return rho


def energy_and_grad(of, a):
    '''Total energy, dE/da and the energy components for AO coefficients ``a``.'''
    mol = of.mol
    nelec = mol.nelectron
    sa = of._ovlp @ a
    s = a @ sa
    ta = of._kin.vw_coeff * (of._tmat @ a)
    va = of._vnuc @ a
    e_vw = nelec / s * (a @ ta)
    e_ne = nelec / s * (a @ va)
    if of._df is None:     # PySCF's exact J
        ja = of._jmf.get_j(of.mol, nelec / s * np.outer(a, a)) @ a
        e_j = .5 * nelec / s * (a @ ja)
    else:    # D = N a a^T / s is rank one: no n_ao^2 density or Coulomb matrix needed
        e_j, ja = of._df.rank_one(a, nelec / s)
    fa = ta + va + ja

    psi = psi_on_grid(of, a)
    rho = rho_on_grid(of, a, psi, s)
    e_tg, vt = _kinetic_grid_part(of, rho)
    rho_xc = rho if of._xc_type == 'GGA' else (rho[0] if rho.ndim == 2 else rho)
    exc, vxc = of._numint.eval_xc_eff(of.xc, rho_xc, deriv=1, xctype=of._xc_type)[:2]
    rho0 = rho[0] if rho.ndim == 2 else rho
    e_xc = np.dot(of.grids.weights, rho0 * exc)
    v = np.array(vt, copy=True)
    if v.ndim == 2:
        if of._xc_type == 'GGA':
            v += vxc
        else:
            v[0] += vxc[0]
    else:
        v += vxc[0]
    fa += _ao_grid(of).fock_vec(psi, v * of.grids.weights)
    grad = 2 * nelec / s * (fa - (a @ fa) / s * sa)
    comps = {'kinetic': e_vw + e_tg, 'kinetic_vw': e_vw, 'kinetic_grid': e_tg,
             'nuclear': e_ne, 'hartree': e_j, 'xc': e_xc, 'nuc_nuc': of.energy_nuc()}
    comps = {k: float(v) for k, v in comps.items()}
    e_tot = e_vw + e_tg + e_ne + e_j + e_xc + comps['nuc_nuc']
    return float(e_tot), grad, comps


def _kinetic_grid_part(of, rho):
    '''The kinetic functional's grid part, given rho in the shape its own ``xctype`` names
    ((ng,) for LDA even when a GGA XC functional makes the solver's rho (4, ng)); the
    potential comes back shaped like the solver's rho.'''
    kin = of._kin
    if not kin.has_grid_part:
        return 0.0, np.zeros_like(rho)
    lda_part = kin.xctype == 'LDA' and rho.ndim == 2
    rho_in = rho[0] if lda_part else rho
    e, v = kin.energy_and_potential(rho_in, of._grid_data)
    v = np.asarray(v, dtype=float)
    if v.shape != rho_in.shape:
        # a plug-in's bug, not a failed minimisation: not turned into converged=False
        raise TypeError(f'kinetic functional {kin!r} (xctype {kin.xctype}) returned a '
                        f'potential of shape {v.shape} for rho of shape {rho_in.shape}')
    if lda_part:
        v_full = np.zeros_like(rho)
        v_full[0] = v
        v = v_full
    return e, v


def fit_psi(of, dm):
    '''AO coefficients of psi = sqrt(rho / N) for a given density matrix (least squares).'''
    aogrid = _ao_grid(of)
    rho = aogrid.density(dm)
    f = np.sqrt(np.maximum(rho, 0) / of.mol.nelectron)
    b = aogrid.project(of.grids.weights * f)
    return of._orth @ (of._orth.T @ b)   # S^-1 b within the non-redundant space


def _is_contracted(mol):
    return bool(np.any(mol._bas[:, gto.NPRIM_OF] > 1))


class OFDFT(lib.StreamObject):
    '''Orbital-free DFT: minimise T[rho] + E_ne + J + E_xc over rho = N psi^2.

    Attributes:
        kinetic : str or KineticFunctional
            'tf', 'vw', 'tf+vw', 'tf+1/9vw', 'kineticnet' (T_vW + learned Pauli term) or an
            object implementing :class:`pyscf_ml.ofdft.kinetic.KineticFunctional`.
        xc : str
            any LDA or GGA libxc functional known to PySCF (no hybrids, meta-GGAs or NLC).
        conv_tol : float
            L-BFGS stops when the energy decrease per iteration falls below this (Ha).
        conv_tol_grad : float
            norm of the gradient per electron in the (kinetically preconditioned)
            optimisation coordinates at convergence.
        max_cycle : int
            maximum number of L-BFGS iterations.
        init_guess : 'minao' (PySCF's MINAO superposition of atomic densities), 'atom'
            (superposed spherically averaged atomic HF densities, PySCF's 'atom') or 'hcore'.
        density_fit : bool or str (auxiliary basis) for the Hartree term.

    Results after :meth:`kernel`: ``e_tot``, ``converged``, ``scf_summary`` (energy breakdown),
    ``psi`` (AO coefficients, int psi^2 = 1), ``make_rdm1()``, ``rho`` (the density on
    ``grids``, shape (ng,) whatever the functionals) and ``make_rho(deriv=1)`` (with its
    gradient, (4, ng)).
    '''
    conv_tol = 1e-10
    conv_tol_grad = 1e-4
    max_cycle = 500
    init_guess = 'minao'
    density_fit = False

    _keys = {'mol', 'kinetic', 'xc', 'grids', 'conv_tol', 'conv_tol_grad', 'max_cycle',
             'init_guess', 'density_fit', 'e_tot', 'converged', 'scf_summary', 'psi', 'rho',
             'niter', 'lin_dep_threshold'}

    def __init__(self, mol, kinetic='tf+1/9vw', xc='lda,vwn'):
        self.mol = mol
        self.verbose = mol.verbose
        self.stdout = mol.stdout
        self.max_memory = mol.max_memory
        self.kinetic = kinetic
        self.xc = xc
        self.grids = dft.gen_grid.Grids(mol)
        self.lin_dep_threshold = 1e-9
        self.e_tot = None
        self.converged = False
        self.scf_summary = {}
        self.psi = None
        self.rho = None
        self.niter = 0
        self._aogrid = None
        self._built = False

    # ------------------------------------------------------------------ set-up
    def check_sanity(self):
        # PySCF's own check: warns about attributes set but not in _keys (a misspelt option)
        super().check_sanity()
        mol = self.mol
        if mol.has_ecp():
            # the energy is all-electron (T + V_nuc + J + E_xc); an ECP would be dropped
            raise ValueError('OFDFT does not support ECPs (pseudopotentials); use an '
                             'all-electron basis')
        if mol.spin != 0:
            raise ValueError(f'OFDFT supports closed-shell (spin=0) molecules only; '
                             f'got spin={mol.spin}')
        if mol.nelectron < 1:
            raise ValueError(f'OFDFT needs at least one electron; got {mol.nelectron}')
        if getattr(mol, 'a', None) is not None:
            raise ValueError('OFDFT supports molecules only (no periodic cells)')
        ni = dft.numint.NumInt()
        try:
            xc_type = ni.libxc.xc_type(self.xc)
            hyb = ni.libxc.is_hybrid_xc(self.xc)
            nlc = ni.libxc.is_nlc(self.xc)
        except Exception as e:  # libxc reports unknown names with different exception types
            raise ValueError(f'unknown XC functional {self.xc!r}: {e}') from None
        if xc_type not in ('LDA', 'GGA') or hyb or nlc:
            raise ValueError(f'OFDFT supports LDA and GGA XC without exact exchange or NLC; '
                             f'{self.xc!r} is {xc_type}{" hybrid" if hyb else ""}')
        return self

    def dump_flags(self, verbose=None):
        log = logger.new_logger(self, verbose)
        log.info('')
        log.info('******** %s ********', self.__class__)
        log.info('kinetic = %s', self.kinetic)
        log.info('xc = %s', self.xc)
        log.info('density representation: rho = N psi^2, psi in %d AOs', self.mol.nao)
        log.info('conv_tol = %g  conv_tol_grad = %g  max_cycle = %d',
                 self.conv_tol, self.conv_tol_grad, self.max_cycle)
        log.info('init_guess = %s  density_fit = %s', self.init_guess, self.density_fit)
        log.info('grids: level %d, %d points', self.grids.level,
                 0 if self.grids.weights is None else self.grids.weights.size)
        return self

    def build(self):
        self.check_sanity()
        mol = self.mol
        log = logger.new_logger(self)
        self._kin = kinetic_mod.parse(self.kinetic)
        self._kin.check_mol(mol)
        if _is_contracted(mol) and self._kin.has_grid_part:
            log.warn('The basis is contracted: with a grid kinetic functional this gives '
                     'artefacts (see docs). Use an uncontracted basis, e.g. basis="unc-cc-pvtz".')
        self._xc_type = self._numint_xc_type()
        self._xctype = 'GGA' if 'GGA' in (self._xc_type, self._kin.xctype) else 'LDA'
        if self.grids.weights is None:
            self.grids.build(with_non0tab=False)
        self._grid_data = kinetic_mod.GridData(mol, self.grids.coords, self.grids.weights)
        self._numint = dft.numint.NumInt()
        self._ovlp = mol.intor_symmetric('int1e_ovlp')
        self._tmat = mol.intor_symmetric('int1e_kin')
        self._vnuc = mol.intor_symmetric('int1e_nuc')
        e, u = np.linalg.eigh(self._ovlp)
        keep = e > self.lin_dep_threshold
        if not np.all(keep):
            log.info('%d linearly dependent AO combinations removed', int((~keep).sum()))
        self._orth = u[:, keep] / np.sqrt(e[keep])
        # Optimisation coordinates: eigenvectors of T in the orthonormal space, scaled by
        # 1/sqrt(t + 1).  Tight functions (t ~ 1e4) otherwise make the Hessian so
        # ill-conditioned that L-BFGS stalls; this acts as a kinetic preconditioner.
        t, v = np.linalg.eigh(self._orth.T @ self._tmat @ self._orth)
        self._coords = self._orth @ v / np.sqrt(np.maximum(t, 0) + 1.0)
        self._jmf = scf.RHF(mol)
        self._jmf.verbose = 0
        self._df = None
        if self.density_fit:
            auxbasis = (self.density_fit if isinstance(self.density_fit, (str, dict))
                        else None)   # True, 1, np.True_: PySCF's default auxiliary basis
            self._df = ScreenedDFJ(mol, auxbasis, max_memory=self.max_memory, log=log)
        self._aogrid = None
        self._built = self._settings()
        return self

    def _settings(self):
        '''What build() depends on: energy_tot/make_rho rebuild when any of it changed.  Objects
        count by identity: after changing ``grids``, ``mol`` or a plug-in functional in place
        (e.g. ``of.grids.level = 5``), call ``build()`` (``kernel()`` always does).'''
        kin = self.kinetic if isinstance(self.kinetic, str) else id(self.kinetic)
        return (id(self.mol), kin, self.xc, repr(self.density_fit), self.lin_dep_threshold,
                id(self.grids))

    def _ensure_built(self):
        if self._built != self._settings():
            self.build()

    def _numint_xc_type(self):
        return dft.numint.NumInt().libxc.xc_type(self.xc)

    def energy_nuc(self):
        return self.mol.energy_nuc()

    # ------------------------------------------------------------------ guesses
    def get_init_guess(self, key=None):
        '''AO coefficients of a cheap starting psi.'''
        key = (key or self.init_guess).lower()
        if key == 'minao':
            return fit_psi(self, scf.hf.init_guess_by_minao(self.mol))
        if key == 'atom':
            return fit_psi(self, scf.hf.init_guess_by_atom(self.mol))
        if key in ('hcore', '1e'):
            h = self._orth.T @ (self._tmat + self._vnuc) @ self._orth
            return self._orth @ np.linalg.eigh(h)[1][:, 0]
        raise ValueError(f'unknown init_guess {key!r}; use "minao", "atom" or "hcore"')

    # ------------------------------------------------------------------ results
    def make_rdm1(self, psi=None):
        psi = self.psi if psi is None else psi
        return self.mol.nelectron / (psi @ self._ovlp @ psi) * np.outer(psi, psi)

    def make_rho(self, psi=None, deriv=0):
        '''The density N psi^2 on ``self.grids``: (ng,) for ``deriv=0``; (4, ng) = (rho,
        d/dx, d/dy, d/dz) for ``deriv=1``.  ``psi`` defaults to the optimised one.  Values are on
        the grid of the last ``build()`` (``kernel()`` builds): rebuild after changing grids.'''
        if deriv not in (0, 1):
            raise ValueError(f'deriv must be 0 or 1; got {deriv!r}')
        psi = self.psi if psi is None else psi
        if psi is None:
            raise RuntimeError('no density yet: run kernel() or pass psi')
        self._ensure_built()
        if deriv == 1 and self._xctype != 'GGA':
            # the solver's AO values carry no derivatives when every term is LDA: the same
            # rank-one formula on AO values with derivatives, made for this call only
            ao1 = SparseAOGrid(self.mol, self.grids.coords, 1, self.max_memory,
                               logger.new_logger(self))
            return rho_on_grid(self, psi, psi=ao1.values(psi))
        rho = rho_on_grid(self, psi)
        if deriv == 0 and rho.ndim == 2:
            return rho[0].copy()    # not a view that keeps the gradient rows alive
        return rho

    def energy_tot(self, psi=None):
        return self.energy_and_grad(self.psi if psi is None else psi)[0]

    def energy_and_grad(self, psi):
        '''(E, dE/dpsi, components) at AO coefficients ``psi`` (any normalisation).'''
        self._ensure_built()
        return energy_and_grad(self, np.asarray(psi, dtype=float))

    # ------------------------------------------------------------------ kernel
    def kernel(self, psi0=None, dm0=None):
        '''Minimise the energy.  Start from AO coefficients ``psi0``, from a density matrix
        ``dm0`` (psi = sqrt(rho/N) fitted to it) or from ``init_guess``.  Returns e_tot.'''
        self.build()    # cheap; picks up changes of kinetic, xc, grids since the last run
        log = logger.new_logger(self)
        cput0 = (logger.process_clock(), logger.perf_counter())
        self.dump_flags()
        if psi0 is not None:
            a0 = np.asarray(psi0, dtype=float)
            if a0.shape != (self.mol.nao,) or not np.all(np.isfinite(a0)) or not a0.any():
                raise ValueError(f'psi0 must be a finite non-zero vector of length '
                                 f'{self.mol.nao}')
        elif dm0 is not None:
            dm0 = np.asarray(dm0, dtype=float)
            if dm0.shape != (self.mol.nao,) * 2:
                raise ValueError(f'dm0 must be ({self.mol.nao}, {self.mol.nao})')
            if (not np.all(np.isfinite(dm0))
                    or np.einsum('ij,ji->', dm0, self._ovlp) <= 0):
                raise ValueError('dm0 must be finite with a positive electron count Tr(dm0 S)')
            a0 = fit_psi(self, dm0)
        else:
            a0 = self.get_init_guess()
        x = self._coords
        c0 = np.linalg.lstsq(x, a0, rcond=None)[0]
        c0 /= np.linalg.norm(c0)

        nelec = self.mol.nelectron
        state = {'it': 0, 'e_last': None, 'e': None, 'gnorm': None}
        self._last_c = c0

        memo = {}

        def evaluate(c):
            # one-entry memo: the first L-BFGS call and the final re-evaluation repeat points
            # that were just evaluated, and each evaluation is the expensive part
            key = np.asarray(c, dtype=float).tobytes()
            if memo.get('key') != key:
                memo.update(key=key, value=energy_and_grad(self, x @ c))
            return memo['value']

        def fun(c):
            e, g, _ = evaluate(c)
            gc = x.T @ g
            if not np.isfinite(e) or not np.all(np.isfinite(gc)):
                raise FloatingPointError('non-finite energy or gradient')
            state['e'] = e
            # per electron and invariant to the scale of c (dE/da carries a factor 2N)
            state['gnorm'] = np.linalg.norm(gc) * np.linalg.norm(c) / nelec
            return e, gc

        def callback(c):
            state['it'] += 1
            e = state['e']
            de = None if state['e_last'] is None else e - state['e_last']
            state['e_last'] = e
            self._last_c = np.array(c, copy=True)
            log.info('cycle= %d E= %.15g  delta_E= %s  |g|= %.3g', state['it'], e,
                     'n/a' if de is None else f'{de:.3g}', state['gnorm'])
            if state['gnorm'] < self.conv_tol_grad * 1e-2:
                raise StopIteration   # numerically exact; stop before line-search noise

        e0 = evaluate(c0)[0]    # E is scale invariant: the energy of a0 within the basis
        ftol = self.conv_tol / max(1.0, abs(e0)) if np.isfinite(e0) else self.conv_tol
        failure = None
        c_best = c0
        try:
            res = scipy.optimize.minimize(
                fun, c0, jac=True, method='L-BFGS-B', callback=callback,
                options={'maxiter': self.max_cycle, 'maxfun': 4 * self.max_cycle,
                         'ftol': ftol, 'gtol': 0.0, 'maxcor': 30})
            c_best = res.x
            msg = res.message
        except StopIteration:
            c_best = None
            msg = 'gradient below threshold'
        except (FloatingPointError, np.linalg.LinAlgError, ValueError) as e:
            failure = f'{type(e).__name__}: {e}'
            msg = failure
            c_best = None
        if c_best is None:   # stopped in callback or failed: the last accepted point
            c_best = self._last_c
        a = x @ c_best
        if failure is None:
            e_tot, g, comps = evaluate(c_best)
            gnorm = np.linalg.norm(x.T @ g) * np.linalg.norm(c_best) / nelec
            # a stalled line search (scipy 'success' on ftol) with a large gradient is not
            # convergence
            self.converged = bool(np.isfinite(e_tot) and gnorm < self.conv_tol_grad)
        else:
            e_tot, gnorm, comps = np.nan, np.nan, {}
            self.converged = False
        self.niter = state['it']
        self.psi = a / np.sqrt(a @ self._ovlp @ a)
        self.e_tot = e_tot
        self.scf_summary = comps
        self.rho = self.make_rho() if failure is None else None
        if not self.converged:
            text = (f'OFDFT did not converge after {self.niter} iterations '
                    f'(|g| = {gnorm:.3g}, {msg}); e_tot is not a converged energy')
            log.warn(text)
            warnings.warn(text, OFDFTWarning, stacklevel=2)
        else:
            log.note('converged OFDFT energy = %.15g  (%d iterations, |g| = %.3g)',
                     e_tot, self.niter, gnorm)
        if comps:
            log.info('E_kin = %.12g (vW part %.12g)  E_ne = %.12g  E_H = %.12g  E_xc = %.12g',
                     comps['kinetic'], comps['kinetic_vw'], comps['nuclear'],
                     comps['hartree'], comps['xc'])
        log.timer('OFDFT', *cput0)
        return e_tot

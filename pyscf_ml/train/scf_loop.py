'''Exact loss gradients of an nn-* functional with the SCF in the loop.

For each training system (a molecule or an atom) and the network's current parameters theta the
KS-SCF is run with the network itself (warm-started from the previous density), and the loss is
evaluated at that self-consistent density D*(theta).

- Energy terms.  E_KS[D; theta] is stationary in D at D*, so dE/dtheta = dE_xc/dtheta at fixed
  D*: no differentiation through the SCF.
- Density terms L(D*).  With the adjoint method: solve the coupled-perturbed KS (CPKS) equations
  once for the one-electron perturbation dL/dD; its density response Z gives
  dL/dtheta = d/dtheta <Z, V_xc[D*; theta]>, because the coupled response operator is symmetric.
  The CPKS kernel is the network's own second derivative, applied as Hessian-vector products by
  autograd on the whole grid (NN-NRA's descriptor R couples all grid points).

Everything here is float64; grid functions are PySCF's meta-GGA rows (rho, grad rho, tau).
'''
import numpy as np
import torch
from pyscf import dft
from pyscf.scf import cphf, ucphf

from pyscf_ml.xc.forms import SpinDensities, eps_xc
from pyscf_ml.xc.nonlocal_numint import mgga_matrix, rho_on_grid
from pyscf_ml.xc.nra_kernel import get_kernel, pin_kernel


class KernelApply(torch.autograd.Function):
    '''y = K x with the NN-NRA kernel (symmetric, so the backward is K again, itself
    differentiable: Hessian-vector products work).'''

    @staticmethod
    def forward(ctx, x, kernel):
        ctx.kernel = kernel
        y = kernel.matvec(x.detach().cpu().numpy())
        return torch.as_tensor(y, dtype=x.dtype, device=x.device)

    @staticmethod
    def backward(ctx, grad):
        return KernelApply.apply(grad, ctx.kernel), None


def xc_energy(net, spec, x, w, spin, kernel=None):
    '''E_xc = sum_g w_g n_g eps_xc(x_g) on the whole grid, differentiable in the density rows
    ``x`` (spin+1, 5, N) and in the network's parameters.'''
    d = SpinDensities.from_pyscf_rho(x, spin)
    n = d.n_a + d.n_b
    R = KernelApply.apply(w * n, kernel) if spec.nonlocal_ else None
    return (w * n * eps_xc(net, spec.n_features, d, R)).sum()


class SCFNotConverged(RuntimeError):
    pass


class TrainingSystem:
    '''One molecule or atom: its SCF with the live functional, reference density and the
    pieces of the loss gradient.  Closed shells run RKS, open shells UKS.'''

    def __init__(self, name, mol, spec, xc_name, dm_ref=None, grid_level=3, density_fit=True,
                 conv_tol=1e-9, cpks_tol=1e-10, keep_kernel=True):
        self.name, self.mol, self.spec = name, mol, spec
        self.spin = 0 if mol.spin == 0 else 1
        mf = (dft.RKS if self.spin == 0 else dft.UKS)(mol)
        mf.xc = xc_name
        mf.grids.level = grid_level
        mf.conv_tol = conv_tol
        mf.verbose = 0
        if density_fit:
            mf = mf.density_fit()
        mf.grids.build(with_non0tab=True)
        self.mf, self.grids, self.ni = mf, mf.grids, mf._numint
        self.cpks_tol = cpks_tol
        self.w = torch.as_tensor(self.grids.weights)
        # NN-NRA's kernel takes ~0.5-2 GB per molecule: systems that need it only during and
        # right after their SCF (keep_kernel=False) leave it to the small LRU cache, which
        # rebuilds it once per SCF
        if spec.nonlocal_ and keep_kernel:
            pin_kernel(self.grids.coords)
        self.n_ref = None
        if dm_ref is not None:   # total reference density on the grid
            self.n_ref = torch.as_tensor(self.rows(np.asarray(dm_ref).sum(0))[0, 0])
        self.dm = None           # warm start for the next SCF
        self.e_tot = None
        self.x0 = None           # density rows of self.dm after the last SCF
        self.cycles = 0

    @property
    def kernel(self):
        '''NN-NRA's near-region kernel of this grid (None for local forms): the pinned one,
        or the cached one, built again if the cache has dropped it.'''
        return get_kernel(self.grids.coords) if self.spec.nonlocal_ else None

    # ---- densities on the grid ------------------------------------------------------------
    def rows(self, dm):
        '''Meta-GGA rows (nset, 5, N) of dm ((nao, nao) or (nset, nao, nao)).'''
        return rho_on_grid(self.ni, self.mol, self.grids, dm)

    def dm_rows(self, dm):
        '''Rows in the layout of the functional: total density for RKS, per spin for UKS.'''
        return torch.as_tensor(self.rows(dm if self.spin else dm[None]))

    # ---- SCF ------------------------------------------------------------------------------
    def run_scf(self):
        '''Converge the SCF with the functional registered as mf.xc, from the last density;
        damping with a level shift, then (local forms) second-order SCF are tried before giving
        up.'''
        mf = self.mf
        cycles = []
        mf.callback = lambda env: cycles.append(1)
        # (second-order SCF is the last resort: each of its macro iterations rebuilds the
        # network's second derivatives on the grid, which costs ~10 SCF cycles)
        attempts = [dict(damp=0, level_shift=0, max_cycle=100, diis_start_cycle=1),
                    dict(damp=0.5, level_shift=0.3, max_cycle=200, diis_start_cycle=5)]
        for settings in attempts:
            for key, value in settings.items():
                setattr(mf, key, value)
            mf.kernel(dm0=self.dm)
            if mf.converged:
                break
        if not mf.converged and not self.spec.nonlocal_:
            soscf = mf.newton()
            soscf.kernel(mf.mo_coeff, mf.mo_occ)
            if soscf.converged:   # copy the solution back: the loss reads mf's orbitals
                for key in ('mo_energy', 'mo_coeff', 'mo_occ', 'e_tot', 'converged'):
                    setattr(mf, key, getattr(soscf, key))
                # canonical orbitals for the CPKS denominators
                mf.mo_energy, mf.mo_coeff = mf.canonicalize(mf.mo_coeff, mf.mo_occ)[:2]
        self.cycles = len(cycles)
        if not mf.converged:
            raise SCFNotConverged(f'{self.name}: SCF did not converge with the current network')
        self.dm = mf.make_rdm1()
        self.e_tot = float(mf.e_tot)
        self.x0 = self.dm_rows(self.dm)   # shared by every loss piece below
        return self.e_tot

    # ---- loss pieces ------------------------------------------------------------------------
    def density_loss(self):
        '''L = sum_g |w_g| (n_g - n_ref,g)^2 at the SCF density and dL/dD (spin+1, nao, nao).
        |w|: PySCF's pruned grids have a few negative weights near nuclei.'''
        resid = self.x0[:, 0].sum(0) - self.n_ref
        wabs = self.w.abs()
        loss = float((wabs * resid ** 2).sum())
        wv = np.zeros((self.spin + 1, 5, resid.numel()))
        wv[:, 0] = (2 * wabs * resid).numpy()   # L depends on the total density only
        return loss, mgga_matrix(self.ni, self.mol, self.grids, wv)

    def response_operator(self, net):
        '''dm1 (spin+1, nao, nao) -> first-order KS potential J[dm1] + f_xc dm1, with the
        network's exact second derivatives (Hessian-vector products by autograd).'''
        x0 = self.x0.clone().requires_grad_(True)
        with torch.enable_grad():
            energy = xc_energy(net, self.spec, x0, self.w, self.spin, self.kernel)
            grad_x, = torch.autograd.grad(energy, x0, create_graph=True)

        def apply(dm1):
            x1 = self.dm_rows(dm1 if self.spin else dm1[0])
            with torch.enable_grad():
                hvp, = torch.autograd.grad((grad_x * x1).sum(), x0, retain_graph=True)
            v = mgga_matrix(self.ni, self.mol, self.grids, hvp.detach().numpy())
            vj = self.mf.get_j(self.mol, dm1.sum(0), hermi=1)
            return v + vj
        return apply

    def density_response(self, net, h1_ao):
        '''Z = dD*/d(eps) for the perturbation H -> H + eps h1 (h1 per spin, (spin+1, nao,
        nao)), from the CPKS equations; returned per spin (spin+1, nao, nao).'''
        mf = self.mf
        vresp = self.response_operator(net)
        mo_e, mo_c, mo_occ = mf.mo_energy, mf.mo_coeff, mf.mo_occ
        if self.spin == 0:
            orbo, orbv = mo_c[:, mo_occ > 0], mo_c[:, mo_occ == 0]

            def fvind(x):
                out = []
                for xi in x.reshape(-1, orbv.shape[1], orbo.shape[1]):
                    dm1 = 2 * orbv @ xi @ orbo.T             # total density, occupancy 2
                    v = vresp((dm1 + dm1.T)[None])[0]
                    out.append(orbv.T @ v @ orbo)
                return np.asarray(out)
            x, _ = cphf.solve(fvind, mo_e, mo_occ, orbv.T @ h1_ao[0] @ orbo,
                              tol=self.cpks_tol, max_cycle=100)
            z = 2 * orbv @ x @ orbo.T
            z = z + z.T
            return z[None]
        orbs = [(c[:, o > 0], c[:, o == 0]) for c, o in zip(mo_c, mo_occ)]
        shapes = [(v.shape[1], o.shape[1]) for o, v in orbs]
        nova = shapes[0][0] * shapes[0][1]

        def dm_of(xa, xb):
            dms = []
            for (o, v), xs in zip(orbs, (xa, xb)):
                d = v @ xs @ o.T
                dms.append(d + d.T)
            return np.asarray(dms)

        def fvind(x):
            out = []
            for xi in np.atleast_2d(x):   # ucphf passes (nvec, nov_a + nov_b)
                xa = xi[:nova].reshape(shapes[0])
                xb = xi[nova:].reshape(shapes[1])
                v = vresp(dm_of(xa, xb))
                out.append(np.concatenate([(orbs[s][1].T @ v[s] @ orbs[s][0]).ravel()
                                           for s in range(2)]))
            return np.asarray(out)
        h1 = tuple(orbs[s][1].T @ h1_ao[s] @ orbs[s][0] for s in range(2))
        (xa, xb), _ = ucphf.solve(fvind, mo_e, mo_occ, h1, tol=self.cpks_tol, max_cycle=100)
        return dm_of(xa, xb)

    def adjoint_term(self, net, z):
        '''<Z, V_xc[D*; theta]> as a function of theta (D* fixed); its theta-gradient is the
        density term's contribution dL/dtheta.'''
        x0 = self.x0.clone().requires_grad_(True)
        z_rows = self.dm_rows(z if self.spin else z[0])
        energy = xc_energy(net, self.spec, x0, self.w, self.spin, self.kernel)
        grad_x, = torch.autograd.grad(energy, x0, create_graph=True)
        return (grad_x * z_rows).sum()


def atomization_energies(molecules, energies, hartree_to_kcal):
    '''AE (kcal/mol) of each molecule from the total energies of it and its atoms;
    ``molecules`` maps name -> composition dict.'''
    return {m: hartree_to_kcal * (sum(c * energies[a] for a, c in comp.items()) - energies[m])
            for m, comp in molecules.items()}


def flat_grad(net):
    return torch.cat([p.grad.reshape(-1) if p.grad is not None else torch.zeros_like(p).reshape(-1)
                      for p in net.parameters()])

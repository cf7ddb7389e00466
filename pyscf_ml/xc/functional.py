'''A learned XC functional bound to its weights: evaluation on grid points in torch.

Derivatives come from autograd.  ``eval_eff`` returns them in PySCF's "eff" layout (with respect
to the rows rho, d_x rho, d_y rho, d_z rho, tau, per spin), which is what PySCF's numint,
gradients, SOSCF and TDDFT consume; ``eval_libxc`` returns libxc's (rho, sigma, tau) layout for
callers of ``dft.libxc.eval_xc``.
'''
import numpy as np
import torch

from pyscf_ml.device import get_device
from pyscf_ml.xc.forms import NagaiMLP, SpinDensities, eps_xc, form_spec
from pyscf_ml.xc.weights_io import load_state_dict

NVAR = {'LDA': 1, 'GGA': 4, 'MGGA': 5}
EVAL_CHUNK = 1 << 16   # grid points per network call (bounds autograd memory)


class NonFiniteXCError(FloatingPointError):
    '''The network returned NaN or inf on some grid points.'''


class TorchFunctional:
    '''A functional given as a torch energy model eps_xc(SpinDensities, R) -> (N,).

    Subclasses implement :meth:`eps`; this class turns it into PySCF's contracts.'''

    def __init__(self, name, xctype, nonlocal_=False):
        self.name = name
        self.xctype = xctype
        self.is_nonlocal = nonlocal_

    def eps(self, d, R=None):
        raise NotImplementedError

    def load(self):
        return self

    # ------------------------------------------------------------------------------------
    def _rho_tensor(self, rho, spin):
        '''PySCF rho (any of its layouts) -> float64 torch tensor (spin+1, nvar, N).'''
        rho = np.asarray(rho, dtype=np.float64)
        ngrids = rho.shape[-1]
        rho = rho.reshape(spin + 1, -1, ngrids)
        if self.xctype == 'MGGA' and rho.shape[1] == 6:   # drop the Laplacian row
            rho = rho[:, [0, 1, 2, 3, 5]]
        nvar = NVAR[self.xctype]
        if rho.shape[1] < nvar:
            raise ValueError(f'{self.name} is a {self.xctype} functional and needs {nvar} '
                             f'density rows per spin, got {rho.shape[1]}')
        return torch.as_tensor(np.ascontiguousarray(rho[:, :nvar]), device=get_device())

    def _check_finite(self, rho, *arrays):
        bad = torch.zeros(rho.shape[-1], dtype=torch.bool, device=rho.device)
        for a in arrays:
            bad |= ~torch.isfinite(a.reshape(-1, rho.shape[-1])).all(dim=0)
        if bad.any():
            n_tot = rho[:, 0].sum(0)[bad]
            raise NonFiniteXCError(
                f'{self.name} produced NaN/inf at {int(bad.sum())} of {rho.shape[-1]} grid points '
                f'(grid-block indices {bad.nonzero()[:5, 0].tolist()}...), in the density region '
                f'{float(n_tot.min()):.3e} <= n <= {float(n_tot.max()):.3e}; refusing to return '
                f'a non-finite XC energy')

    def energy_and_derivatives(self, rho, spin, deriv=1, R=None):
        '''eps_xc (N,), d(n eps)/d rho (spin+1, nvar, N) and, with deriv=2, the second
        derivatives (spin+1, nvar, spin+1, nvar, N); with R also d(n eps)/dR (N,).
        ``rho`` is a torch tensor (spin+1, nvar, N).'''
        ngrids = rho.shape[-1]
        eps = torch.empty(ngrids, dtype=rho.dtype, device=rho.device)
        v = torch.empty_like(rho)
        f = (torch.empty(rho.shape[:2] + rho.shape[:2] + (ngrids,), dtype=rho.dtype,
                         device=rho.device) if deriv >= 2 else None)
        vR = torch.empty_like(eps) if R is not None else None
        for p0 in range(0, ngrids, EVAL_CHUNK):
            p1 = min(p0 + EVAL_CHUNK, ngrids)
            x = rho[..., p0:p1].detach().requires_grad_(True)
            leaves = [x]
            r = None
            if R is not None:
                r = R[p0:p1].detach().requires_grad_(True)
                leaves.append(r)
            with torch.enable_grad():
                d = SpinDensities.from_pyscf_rho(x, spin)
                e_pt = self.eps(d, r)
                energy = (e_pt * (d.n_a + d.n_b)).sum()
                grads = torch.autograd.grad(energy, leaves, create_graph=deriv >= 2)
                gx = grads[0]
                if deriv >= 2:
                    flat = gx.reshape(-1, p1 - p0)
                    rows = [torch.autograd.grad(flat[k].sum(), x, retain_graph=True,
                                                allow_unused=True)[0]
                            for k in range(flat.shape[0])]
                    rows = [torch.zeros_like(x) if g is None else g for g in rows]
                    f[..., p0:p1] = torch.stack(rows).reshape(f[..., p0:p1].shape)
            eps[p0:p1] = e_pt.detach()
            v[..., p0:p1] = gx.detach()
            if R is not None:
                vR[p0:p1] = grads[1].detach()
        self._check_finite(rho, eps, v, *(t for t in (f, vR) if t is not None))
        return eps, v, f, vR

    def eval_eff(self, rho, deriv=1, spin=None):
        '''PySCF ``eval_xc_eff`` contract: [exc, vxc, fxc, kxc] in the eff layout.'''
        if self.is_nonlocal:
            raise NotImplementedError(
                f'{self.name} is nonlocal: its energy needs the whole molecular grid and is '
                f'evaluated by pyscf_ml\'s own nr_rks/nr_uks, not point by point; this code '
                f'path (e.g. a Hessian or a periodic system) is not supported for it')
        if deriv > 2:
            raise NotImplementedError(f'{self.name}: derivative order {deriv} is not available '
                                      f'(up to 2 is)')
        rho = np.asarray(rho, dtype=np.float64)
        if spin is None:
            spin = 1 if (rho.ndim >= 2 and rho.shape[0] == 2) else 0
        x = self._rho_tensor(rho, spin)
        eps, v, f, _ = self.energy_and_derivatives(x, spin, deriv)
        out = [eps.cpu().numpy()]
        if deriv >= 1:
            v = v.cpu().numpy()
            out.append(v[0] if spin == 0 else v)
        if deriv >= 2:
            f = f.cpu().numpy()
            out.append(f[0, :, 0] if spin == 0 else f)
        out.extend([None] * (4 - len(out)))
        return out

    def eval_libxc(self, rho, spin=0, deriv=1):
        '''``dft.libxc.eval_xc`` contract: exc, (vrho, vsigma, vlapl, vtau), fxc, kxc.'''
        if self.is_nonlocal:
            raise NotImplementedError(f'{self.name} is nonlocal and cannot be evaluated on '
                                      f'isolated grid points')
        if deriv > 1:
            raise NotImplementedError(f'{self.name}: eval_xc gives up to first derivatives; '
                                      f'use NumInt.eval_xc_eff for second derivatives')
        x = self._rho_tensor(rho, spin)
        nvar = x.shape[1]
        with torch.enable_grad():
            if spin == 0:
                n = x[0, 0].clone().requires_grad_(True)
                leaves = [n]
                s = t = None
                if nvar >= 4:
                    s = (x[0, 1:4] ** 2).sum(0).requires_grad_(True)
                    leaves.append(s)
                if nvar >= 5:
                    t = x[0, 4].clone().requires_grad_(True)
                    leaves.append(t)
                d = SpinDensities(n / 2, n / 2, *(3 * [s / 4] if s is not None else []),
                                  *([t / 2, t / 2] if t is not None else []))
            else:
                n = x[:, 0].T.clone().requires_grad_(True)                    # (N, 2)
                leaves = [n]
                s = t = None
                if nvar >= 4:
                    ga, gb = x[0, 1:4], x[1, 1:4]
                    s = torch.stack([(ga * ga).sum(0), (ga * gb).sum(0), (gb * gb).sum(0)],
                                    dim=1).requires_grad_(True)                # (N, 3)
                    leaves.append(s)
                if nvar >= 5:
                    t = x[:, 4].T.clone().requires_grad_(True)                 # (N, 2)
                    leaves.append(t)
                d = SpinDensities(n[:, 0], n[:, 1],
                                  *((s[:, 0], s[:, 1], s[:, 2]) if s is not None else ()),
                                  *((t[:, 0], t[:, 1]) if t is not None else ()))
            eps = self.eps(d)
            grads = torch.autograd.grad((eps * (d.n_a + d.n_b)).sum(), leaves)
        self._check_finite(x, eps, *grads)
        grads = [g.cpu().numpy() for g in grads]
        vrho = grads[0]
        vsigma = grads[1] if nvar >= 4 else None
        vtau = grads[2] if nvar >= 5 else None
        return eps.detach().cpu().numpy(), (vrho, vsigma, None, vtau), None, None


class NNFunctional(TorchFunctional):
    '''A registered neural functional: name, form and weights (loaded on first use).'''

    def __init__(self, name, form, weights_path, state_dict=None):
        self.spec = form_spec(form)
        super().__init__(name, self.spec.xctype, self.spec.nonlocal_)
        self.weights_path = weights_path
        self._state = state_dict
        self._net = None

    def load(self):
        '''Read and check the weights now (raises WeightFileError naming the file).'''
        if self._state is None:
            self._state = load_state_dict(self.weights_path, self.spec.name)
        return self

    def net(self):
        '''The network on the current inference device, float64.'''
        device = get_device()
        if self._net is None or next(self._net.parameters()).device != device:
            self.load()
            net = NagaiMLP(self.spec.n_features).to(torch.float64)
            # a state without the gradient floor is the published form (floor 0)
            net.load_state_dict({'t2_floor': torch.zeros((), dtype=torch.float64),
                                 **self._state})
            net.requires_grad_(False)
            self._net = net.to(device)
        return self._net

    def eps(self, d, R=None):
        return eps_xc(self.net(), self.spec.n_features, d, R)

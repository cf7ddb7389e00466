'''The neural XC functional forms of Nagai, Akashi & Sugino, npj Comput. Mater. 6, 43 (2020).

Pure torch, no PySCF.  For spin densities n_a, n_b, sigma_aa, sigma_ab, sigma_bb, tau_a, tau_b
and (NN-NRA only) the near-region descriptor R, with e = 1e-7:

    n  = n_a + n_b + e,  zeta = (n_a - n_b) / n
    t0 = n^(1/3)
    t1 = [(1+zeta)^(4/3) + (1-zeta)^(4/3)] / 2
    t2 = (sqrt(sigma_aa + sigma_bb + 2 sigma_ab + 4e) + e) / n^(4/3)
    t3 = (tau_a + tau_b + e) / (n^(5/3) [(1+zeta)^(5/3) + (1-zeta)^(5/3)])
    t4 = max(R, 0) + e
    G  = ELU(fc4(ELU(fc3(ELU(fc2(ELU(fc1(log t))))))))) + 1
    eps_xc = -G (n_a + n_b)^(1/3) t1        (Hartree per electron)

and eps_xc = 0 where n_a + n_b < 1e-10.

Our own weights may carry a gradient floor t_c (the network buffer ``t2_floor``; 0, i.e. the
published form, for the published weights): t2 is then replaced by sqrt(t2^2 + t_c^2).
With the bare log t2, any slope of G in log t2 turns into a dip of the energy density,
narrower than the grid spacing, around every point where grad n = 0 at high density (bond
midpoints, nuclei in a Gaussian basis): grid points near it make E_xc jump by ~1e-5 Ha as the
SCF density moves, and DIIS and Newton stall at |g| ~ 3e-3 on default (level 3) grids.  With
the floor, G depends on sigma analytically near sigma = 0, as the gradient expansion has it.
'''
import torch

EPS = 1e-7
DENSITY_CUTOFF = 1e-10
WIDTH = 100


class FormSpec:
    '''What a functional form needs: its number of descriptors and PySCF xc type.'''

    def __init__(self, name, n_features, xctype, nonlocal_=False):
        self.name = name
        self.n_features = n_features
        self.xctype = xctype            # what PySCF must put on the grid: LDA, GGA or MGGA
        self.nonlocal_ = nonlocal_      # needs the whole-grid R descriptor

    def __repr__(self):
        return f'FormSpec({self.name!r})'


FORMS = {
    'nn-lsda': FormSpec('nn-lsda', 2, 'LDA'),
    'nn-gga': FormSpec('nn-gga', 3, 'GGA'),
    'nn-metagga': FormSpec('nn-metagga', 4, 'MGGA'),
    'nn-nra': FormSpec('nn-nra', 5, 'MGGA', nonlocal_=True),
}


def form_spec(form):
    try:
        return FORMS[form.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f'unknown functional form {form!r}; forms are {sorted(FORMS)}') from None


class NagaiMLP(torch.nn.Module):
    '''The enhancement-factor network G(log t): 3 hidden ELU layers of width 100.'''

    def __init__(self, n_features, width=WIDTH):
        super().__init__()
        self.fc1 = torch.nn.Linear(n_features, width)
        self.fc2 = torch.nn.Linear(width, width)
        self.fc3 = torch.nn.Linear(width, width)
        self.fc4 = torch.nn.Linear(width, 1)
        # part of the form, not trained: saved with the weights so that every copy of the
        # network (training, SCF in the loop, inference) applies the same descriptors
        self.register_buffer('t2_floor', torch.zeros(()))

    def forward(self, x):
        elu = torch.nn.functional.elu
        h = elu(self.fc3(elu(self.fc2(elu(self.fc1(x))))))
        return elu(self.fc4(h))[..., 0] + 1


class SpinDensities:
    '''Spin-resolved density variables on grid points (torch tensors of shape (N,)).'''

    def __init__(self, n_a, n_b, s_aa=None, s_ab=None, s_bb=None, tau_a=None, tau_b=None):
        self.n_a, self.n_b = n_a, n_b
        self.s_aa, self.s_ab, self.s_bb = s_aa, s_ab, s_bb
        self.tau_a, self.tau_b = tau_a, tau_b

    @classmethod
    def from_pyscf_rho(cls, rho, spin):
        '''From PySCF's rho rows (rho, d_x rho, d_y rho, d_z rho, tau), shaped (spin+1, nvar, N).

        Spin-unpolarised input is the total density: each spin channel gets half of it.'''
        if spin == 0:
            half = rho[0] * 0.5
            a = b = half
        else:
            a, b = rho[0], rho[1]
        nvar = rho.shape[1]
        s_aa = s_ab = s_bb = tau_a = tau_b = None
        if nvar >= 4:
            ga, gb = a[1:4], b[1:4]
            s_aa = (ga * ga).sum(0)
            s_bb = (gb * gb).sum(0)
            s_ab = (ga * gb).sum(0)
        if nvar >= 5:
            tau_a, tau_b = a[4], b[4]
        return cls(a[0], b[0], s_aa, s_ab, s_bb, tau_a, tau_b)


def _where_dense(mask, x):
    # Points below the density cutoff get a harmless stand-in value so that neither the forward
    # pass nor its derivatives produce inf/NaN there; their energy is zeroed afterwards.
    return torch.where(mask, x, torch.ones_like(x))


def descriptors(n_features, d, R=None, t2_floor=0.0):
    '''log t0..t{n_features-1} stacked as (N, n_features), plus n_a + n_b, t1 and the mask.
    ``t2_floor`` > 0 uses log sqrt(t2^2 + t2_floor^2) for the gradient descriptor.'''
    n_tot = d.n_a + d.n_b
    mask = n_tot > DENSITY_CUTOFF
    n_a, n_b = _where_dense(mask, d.n_a), _where_dense(mask, d.n_b)
    n_raw = n_a + n_b
    n = n_raw + EPS
    zeta = (n_a - n_b) / n
    t1 = ((1 + zeta) ** (4 / 3) + (1 - zeta) ** (4 / 3)) / 2
    feats = [torch.log(n) / 3, torch.log(t1)]
    if n_features >= 3:
        sigma = _where_dense(mask, d.s_aa + d.s_bb + 2 * d.s_ab)
        t2 = (torch.sqrt(sigma + 4 * EPS) + EPS) / n ** (4 / 3)
        log_t2 = torch.log(t2)
        if t2_floor > 0:
            log_t2 = 0.5 * torch.logaddexp(2 * log_t2, 2 * torch.log(torch.as_tensor(
                float(t2_floor), dtype=log_t2.dtype, device=log_t2.device)))
        feats.append(log_t2)
    if n_features >= 4:
        ds = (1 + zeta) ** (5 / 3) + (1 - zeta) ** (5 / 3)
        tau = _where_dense(mask, d.tau_a + d.tau_b)
        feats.append(torch.log((tau + EPS) / (n ** (5 / 3) * ds)))
    if n_features >= 5:
        if R is None:
            raise ValueError('NN-NRA needs the near-region descriptor R')
        feats.append(torch.log(torch.clamp(_where_dense(mask, R), min=0) + EPS))
    return torch.stack(feats, dim=-1), n_raw, t1, mask


def eps_xc_factors(net, n_features, d, R=None):
    '''(x, prefactor, mask) with eps_xc = prefactor * G(x) where mask holds, zero elsewhere:
    the published form eps_xc = -G n^(1/3) t1.  Separated so that training at a frozen
    density can keep x and the prefactor and rerun only the network.'''
    x, n_raw, t1, mask = descriptors(n_features, d, R, float(net.t2_floor))
    return x, -n_raw ** (1 / 3) * t1, mask


def eps_xc(net, n_features, d, R=None):
    '''XC energy per electron on each grid point (zero below the density cutoff).'''
    x, prefactor, mask = eps_xc_factors(net, n_features, d, R)
    eps = prefactor * net(x)
    return torch.where(mask, eps, torch.zeros_like(eps))

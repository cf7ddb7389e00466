'''KineticNet-style learned Pauli kinetic energy (torch + e3nn only, no PySCF).

T_P[rho] = C_F sum_g w_g rho_g^{5/3} F_g,   F_g = softplus(...) >= 0,

evaluated on a molecular quadrature grid in three sparse, atom-centred steps (edges only
between grid points and atoms closer than ``cutoff``):

1. grid -> atoms: equivariant density moments  m_A[k, lm] = sum_g w_g rho_g B_k(d) Y_lm(r^),
   with Gaussian radial filters B_k whose exponents reach 1/(0.07 bohr)^2 so that the nuclear
   cusp region is resolved;
2. atoms <-> atoms: one e3nn tensor-product message-passing layer;
3. atoms -> grid: invariant contractions  sum_m h_A[c, lm] Y_lm(r^_gA), combined with radial
   filters of d_gA and local descriptors of rho_g, give the enhancement factor F_g.

With ``gradient=True`` the local descriptors also include log(1 + s^2), s the reduced density
gradient (s^2 = |grad rho|^2 / (4 (3 pi^2)^(2/3) rho^(8/3))), so that F_g sees the shell
structure of the density at g (a GGA-level Pauli term; the OF-DFT solver then passes
|grad rho|^2 and uses the weak form for the gradient part of the potential).

Every input to the readout is a scalar built from distances and contracted spherical
harmonics, so T_P is invariant under rotations, translations and atom permutations.
'''
import math

import torch
from e3nn import o3
from torch import nn

C_F = 0.3 * (3 * math.pi**2)**(2. / 3)
S2_SCALE = 4 * (3 * math.pi**2)**(2. / 3)    # s^2 = sigma / (S2_SCALE rho^(8/3))


def _even_tempered(lo, hi, n):
    return torch.logspace(math.log10(lo), math.log10(hi), n)


def _envelope(d, cutoff):
    '''Smooth cutoff: 1 at d = 0, 0 with zero slope at d = cutoff.'''
    return torch.where(d < cutoff, 0.5 * (torch.cos(math.pi * d / cutoff) + 1),
                       torch.zeros_like(d))


class KineticNet(nn.Module):
    # the radial exponents the weights were trained with (float32-rounded) define the trained
    # function: e3nn_utils.load_trained_state takes them from the weight file
    stored_buffers = ('alpha',)

    def __init__(self, species=(1, 2, 3), n_radial=12, lmax=2, mul=8, hidden=32,
                 cutoff=6.0, alpha_min=0.05, alpha_max=200.0, gradient=False):
        super().__init__()
        self.config = dict(species=list(species), n_radial=n_radial, lmax=lmax, mul=mul,
                           hidden=hidden, cutoff=cutoff, alpha_min=alpha_min,
                           alpha_max=alpha_max)
        if gradient:    # absent from the configs of density-only weight files
            self.config['gradient'] = True
        self.gradient = bool(gradient)
        self.species = tuple(int(z) for z in species)
        self.cutoff = float(cutoff)
        self.lmax = lmax
        self.mul = mul
        index = torch.full((max(self.species) + 1,), -1, dtype=torch.long)
        index[list(self.species)] = torch.arange(len(self.species))
        self.register_buffer('z_index', index)
        self.register_buffer('alpha', _even_tempered(alpha_min, alpha_max, n_radial))
        self.sh_irreps = o3.Irreps.spherical_harmonics(lmax)
        self.moment_irreps = o3.Irreps([(n_radial, (l, (-1)**l)) for l in range(1, lmax + 1)])
        self.h_irreps = o3.Irreps([(mul, (l, (-1)**l)) for l in range(lmax + 1)])
        ns = len(self.species)
        self.scalar_mlp = nn.Sequential(nn.Linear(n_radial + ns, hidden), nn.SiLU(),
                                        nn.Linear(hidden, mul))
        self.lin_in = o3.Linear(o3.Irreps(f'{mul}x0e') + self.moment_irreps, self.h_irreps)
        self.tp = o3.FullyConnectedTensorProduct(self.h_irreps, self.sh_irreps, self.h_irreps,
                                                 shared_weights=False)
        self.edge_mlp = nn.Sequential(nn.Linear(n_radial, hidden), nn.SiLU(),
                                      nn.Linear(hidden, self.tp.weight_numel))
        nfeat = mul * (lmax + 1) * n_radial
        self.readout = nn.Linear(nfeat, hidden)
        n_local = 3 if self.gradient else 2
        self.head = nn.Sequential(nn.SiLU(), nn.Linear(hidden + n_local, hidden), nn.SiLU(),
                                  nn.Linear(hidden, 1))
        with torch.no_grad():
            self.head[-1].bias.fill_(-3.0)   # start near F = 0.05, the size of T_P / T_TF

    def check_species(self, z):
        bad = sorted({int(x) for x in z if int(x) >= len(self.z_index)
                      or self.z_index[int(x)] < 0})
        if bad:
            raise ValueError(f'KineticNet was trained for Z in {self.species}; '
                             f'unsupported atomic numbers {bad}')

    def _radial(self, d):
        return torch.exp(-self.alpha * d[:, None]**2) * _envelope(d, self.cutoff)[:, None]

    def _grid_atom_edges(self, coords, pos):
        # dense distance matrix, then keep pairs inside the cutoff (sparse edge list); nonzero
        # returns indices in lexicographic order, so each atom's edges form one contiguous block
        vec = coords[None, :, :] - pos[:, None, :]
        d = vec.norm(dim=-1)
        a, g = torch.nonzero(d < self.cutoff, as_tuple=True)
        return g, a, vec[a, g], d[a, g]

    def geometry(self, coords, pos):
        '''The grid-atom edges of each atom and phi_e[k, lm] = B_k(d_e) Y_lm(e) on them, as
        (grid indices per atom, phi per atom).  They depend on the grid and the atoms only (no
        density, no trainable parameter), so a caller that evaluates many densities on one grid
        (the OF-DFT solver) makes them once and passes them to :meth:`forward`.'''
        natm = pos.shape[0]
        g, a, vec, d = self._grid_atom_edges(coords, pos)
        sh = o3.spherical_harmonics(self.sh_irreps, vec, normalize=True,
                                    normalization='component')        # (E, (lmax+1)^2)
        radial = self._radial(d)                                      # (E, K)
        phi = (radial[:, :, None] * sh[:, None, :]).reshape(len(g), -1)
        blocks = torch.bincount(a, minlength=natm).tolist()          # edges of each atom
        return torch.split(g, blocks), torch.split(phi, blocks)

    def forward(self, coords, weights, rho, pos, z, geometry=None, sigma=None):
        '''Pauli kinetic energy (scalar) of density ``rho`` given on grid ``coords``/``weights``
        for atoms at ``pos`` (bohr) with atomic numbers ``z``; ``geometry`` is
        :meth:`geometry` of the same grid and atoms (made here when not given); ``sigma`` =
        |grad rho|^2 on the grid, required by (and only by) a ``gradient=True`` model.'''
        if self.gradient and sigma is None:
            raise ValueError('this KineticNet uses the density gradient: pass sigma')
        natm = pos.shape[0]
        dtype = coords.dtype
        rho_c = rho.clamp(min=1e-30)
        g_at, phi_at = geometry if geometry is not None else self.geometry(coords, pos)
        nk, nlm = len(self.alpha), (self.lmax + 1)**2
        wr = weights * rho
        # 1. grid -> atoms: density moments m_A[k, lm] = norm_k sum_g w rho B_k Y_lm, one product
        #    per atom; Y_00 = 1 in the 'component' normalisation, so lm = 0 is the plain moment
        norm = (self.alpha / math.pi)**1.5
        mom = torch.stack([wr[ga] @ pa for ga, pa in zip(g_at, phi_at)])
        mom = mom.reshape(natm, nk, nlm) * norm[None, :, None]
        m0 = mom[:, :, 0]
        feats = [(mom[:, :, l * l:(l + 1)**2] / (m0[:, :, None] + 1e-6)).reshape(natm, -1)
                 for l in range(1, self.lmax + 1)]
        onehot = nn.functional.one_hot(self.z_index[z], len(self.species)).to(dtype)
        s = self.scalar_mlp(torch.cat([torch.log(m0 + 1e-4), onehot], dim=1))
        h = self.lin_in(torch.cat([s] + feats, dim=1))
        # 2. atoms <-> atoms
        if natm > 1:
            i, j = torch.nonzero(~torch.eye(natm, dtype=torch.bool, device=pos.device),
                                 as_tuple=True)
            v = pos[j] - pos[i]
            dij = v.norm(dim=-1)
            keep = dij < self.cutoff
            i, j, v, dij = i[keep], j[keep], v[keep], dij[keep]
            y = o3.spherical_harmonics(self.sh_irreps, v, normalize=True,
                                       normalization='component')
            msg = self.tp(h[j], y, self.edge_mlp(self._radial(dij)))
            h = h + torch.zeros_like(h).index_add(0, i, msg)
        # 3. atoms -> grid: x_g = W f_g + b, with W = readout.weight laid out (l, c, k) and
        #    f_g[(l, c, k)] = sum_{e at g} B_k(d_e) sum_m h_A[c, lm] Y_lm(e) / sqrt(2l+1).
        #    W is contracted with h per atom first (h_read[A], (hidden, K lm)), so each atom's
        #    edges need one product phi_A @ h_read[A].T instead of an (edges x mul (lmax+1) K)
        #    intermediate.
        w_read = self.readout.weight.reshape(-1, self.lmax + 1, self.mul, nk)
        hs, off = [], 0
        for l in range(self.lmax + 1):
            n = 2 * l + 1
            hl = h[:, off:off + self.mul * n].reshape(natm, self.mul, n)
            off += self.mul * n
            hs.append(torch.einsum('hck,acm->ahkm', w_read[:, l], hl) / math.sqrt(n))
        h_read = torch.cat(hs, dim=3).reshape(natm, -1, nk * nlm)     # (natm, hidden, K*lm)
        ng = coords.shape[0]
        pooled = torch.zeros(ng, h_read.shape[1], dtype=dtype, device=coords.device)
        for ia, (ga, pa) in enumerate(zip(g_at, phi_at)):
            pooled.index_add_(0, ga, pa @ h_read[ia].T)     # in place: no copy per atom
        x_read = pooled + self.readout.bias
        local = [rho_c**(1. / 3), torch.log(rho_c + 1e-8) / 10]
        if self.gradient:
            # log1p keeps the tails' huge s^2 (exponential decay) from dominating the head;
            # the floor on rho keeps s^2 finite where rho underflows.  In float32 training,
            # data cut at rho >= 1e-9 (the data CLIs' default --rho-min) keeps the backward's
            # sigma / (rho^(8/3))^2 below ~1e27; a cut near 1e-12 would approach overflow
            s2 = sigma.clamp(min=0) / (S2_SCALE * rho.clamp(min=1e-12)**(8. / 3))
            local.append(torch.log1p(s2) / 5)
        x = torch.cat([x_read, torch.stack(local, dim=1)], dim=1)
        f = nn.functional.softplus(self.head(x)[:, 0])
        return C_F * torch.sum(weights * rho_c**(5. / 3) * f)


class KineticNetMean(nn.Module):
    '''The mean Pauli energy of independently trained KineticNets, (1/M) sum_m T_P^(m).

    A single network has spurious OF-DFT minima of its own (densities where it underestimates
    T_P); the mean is meant to damp those that the members do not share (stage 17 of
    benchmarks/results/ofdft_path.md measures whether it does).  Same interface as
    :class:`KineticNet` (``geometry``, ``forward``, ``check_species``, ``gradient``), so the
    OF-DFT glue and the trainer's ``predict`` take it unchanged.'''

    def __init__(self, members):
        super().__init__()
        if len(members) < 2:
            raise ValueError('KineticNetMean needs at least two networks')
        self.members = nn.ModuleList(members)
        # a member that reads the density gradient needs sigma; the others ignore it
        self.gradient = any(m.gradient for m in members)

    def check_species(self, z):
        for m in self.members:
            m.check_species(z)

    def geometry(self, coords, pos):
        return [m.geometry(coords, pos) for m in self.members]

    def forward(self, coords, weights, rho, pos, z, geometry=None, sigma=None):
        geometry = geometry if geometry is not None else [None] * len(self.members)
        if len(geometry) != len(self.members):
            raise ValueError(f'{len(geometry)} geometries for {len(self.members)} networks')
        total = 0
        for m, geo in zip(self.members, geometry):
            total = total + m(coords, weights, rho, pos, z, geo,
                              sigma=sigma if m.gradient else None)
        return total / len(self.members)

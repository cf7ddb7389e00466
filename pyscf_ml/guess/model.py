'''An SE(3)-equivariant Hamiltonian model in the spirit of PhiSNet (Unke et al. 2021), on e3nn.

Pipeline, all equivariant:
1. atoms start as element embeddings (scalars); ``num_layers`` message-passing layers mix in
   neighbours through tensor products of features with spherical harmonics of interatomic
   vectors, radial weights from an MLP, and gated nonlinearities;
2. on-site features x_i (x) x_i and pair features x_i (x) x_j + (x_i + x_j) (x) Y(r_ij) carry the
   irreps 0e..4e that AO blocks up to d-d need;
3. per-element (on-site) and per-element-pair (off-site) linear readouts produce, for every
   shell pair and every L in |l_a - l_b|..l_a + l_b, one irrep; a fixed Clebsch-Gordan matrix
   turns these into the AO block (one matmul for all blocks: no loop over orbitals);
4. M (on-site blocks + ordered pair blocks) is symmetrised, F = M + M^T.

Matrices live in the padded slot layout of :class:`~pyscf_ml.guess.ao_order.SlotLayout` and are
gathered into PySCF's AO order at the end.  Positions are in Bohr, output in Hartree.  No PySCF
import here: the model sees atomic numbers, positions and the shell list of each element.
'''
import contextlib
import math

import e3nn
import torch
from e3nn import o3
from e3nn.math import soft_one_hot_linspace
from e3nn.nn import FullyConnectedNet, Gate

from pyscf_ml.e3nn_utils import float64_default
from pyscf_ml.guess.ao_order import SlotLayout, xyz_to_e3nn


@contextlib.contextmanager
def _building(optimize_einsums=False):
    '''Build e3nn modules in float64 (exact Clebsch-Gordan tables, see
    e3nn_utils.float64_default), with or without e3nn's contraction-order optimisation of its
    generated tensor-product code (opt_einsum_fx).  The optimised code computes the same
    function and gradient (tested to 1e-12) but costs seconds per build: worth it for training
    (a uracil step ~6x faster on one CPU thread, water 2-4x), not for loading a model to serve
    one guess (uracil: build + load 1.7 -> 5.2 s to save 42 ms of the network's 89 ms per
    prediction; benchmarks/results/phisnet_step_time_builds.md).'''
    old = e3nn.get_optimization_defaults()['optimize_einsums']
    e3nn.set_optimization_defaults(optimize_einsums=optimize_einsums)
    try:
        with float64_default():
            yield
    finally:
        e3nn.set_optimization_defaults(optimize_einsums=old)


@contextlib.contextmanager
def _no_einsum_path_search():
    '''e3nn's tensor products call torch.einsum hundreds of times per pass, each on two or three
    small operands; torch's default contraction-path search (opt_einsum) then costs more than
    the contractions (measured ad hoc on water, one process: 39 -> 24 ms).  Switched off through
    torch's own ``flags`` context, and only when it is on: ``flags`` restores "enabled" together
    with the strategy, which torch refuses while disabled.'''
    backend = torch.backends.opt_einsum
    if not backend.enabled:
        yield
        return
    with backend.flags(enabled=False):
        yield


def _tp_instructions(irreps1, irreps2, irreps_out, mode):
    '''All allowed (in1, in2 -> out) paths, respecting angular momentum and parity.'''
    instr = []
    for i1, (_, ir1) in enumerate(irreps1):
        for i2, (_, ir2) in enumerate(irreps2):
            for io, (_, iro) in enumerate(irreps_out):
                if iro in ir1 * ir2:
                    instr.append((i1, i2, io, mode, True))
    return instr


def _block_irreps(slots_a, slots_b):
    '''Irreps (one of each) that make up an AO block between two sets of shell slots, and the
    constant matrix mapping them onto the flattened (n_a, n_b) block.'''
    irreps = []
    na = sum(2 * l + 1 for l in slots_a)
    nb = sum(2 * l + 1 for l in slots_b)
    oa = 0
    blocks = []
    for la in slots_a:
        ob = 0
        for lb in slots_b:
            for L in range(abs(la - lb), la + lb + 1):
                # sqrt(2L+1) makes the (L, M) slices an orthonormal basis of the block
                cg = o3.wigner_3j(la, lb, L, dtype=torch.float64) * math.sqrt(2 * L + 1)
                irreps.append((1, (L, (-1) ** (la + lb))))
                blocks.append((oa, ob, cg))
            ob += 2 * lb + 1
        oa += 2 * la + 1
    dim = sum(2 * L + 1 for _, (L, _) in irreps)
    w = torch.zeros(na, nb, dim, dtype=torch.float64)
    col = 0
    for oa, ob, cg in blocks:
        da, db, dl = cg.shape
        w[oa:oa + da, ob:ob + db, col:col + dl] = cg
        col += dl
    return o3.Irreps(irreps), w.reshape(na * nb, dim)


class Interaction(torch.nn.Module):
    '''One message-passing layer: x_i += Gate(W x_i + sum_j TP(x_j, Y(r_ij); R(|r_ij|))).'''

    def __init__(self, irreps, irreps_sh, num_radial, radial_hidden, avg_neighbors):
        super().__init__()
        instr = _tp_instructions(irreps, irreps_sh, irreps, 'uvu')
        self.tp = o3.TensorProduct(irreps, irreps_sh, irreps, instr, shared_weights=False,
                                   internal_weights=False)
        self.radial = FullyConnectedNet([num_radial, radial_hidden, self.tp.weight_numel],
                                        torch.nn.functional.silu)
        scalars = o3.Irreps([(m, ir) for m, ir in irreps if ir.l == 0])
        gated = o3.Irreps([(m, ir) for m, ir in irreps if ir.l > 0])
        gates = o3.Irreps([(gated.num_irreps, (0, 1))])
        self.gate = Gate(scalars, [torch.nn.functional.silu], gates, [torch.sigmoid], gated)
        self.lin_self = o3.Linear(irreps, self.gate.irreps_in)
        self.lin_msg = o3.Linear(irreps, self.gate.irreps_in)
        self.norm = 1 / math.sqrt(avg_neighbors)

    def forward(self, x, src, dst, sh, rad):
        msg = self.tp(x[src], sh, self.radial(rad))
        agg = torch.zeros_like(x).index_add_(0, dst, msg) * self.norm
        return x + self.gate(self.lin_self(x) + self.lin_msg(agg))


class HamiltonianModel(torch.nn.Module):
    '''Predicts the AO Fock matrix of a molecule from atomic numbers and positions.

    ``shells``: {Z: [l per shell, PySCF order]} of the basis the model predicts in.
    ``optimize_einsums``: build the tensor products with e3nn's contraction-order optimisation
    (for training; see ``_building``).  Not part of ``config``: it changes the cost, not the
    function or the parameters.
    '''

    # buffers that are part of the trained function (site_ref is fitted from data):
    # e3nn_utils.load_trained_state takes them from the weight file
    stored_buffers = ('site_ref',)

    def __init__(self, shells, mul=16, lmax=2, num_layers=2, num_radial=16, radial_hidden=32,
                 cutoff=12.0, avg_neighbors=8.0, out_scale=0.1, optimize_einsums=False):
        super().__init__()
        self.config = dict(shells={int(z): list(ls) for z, ls in shells.items()}, mul=mul,
                           lmax=lmax, num_layers=num_layers, num_radial=num_radial,
                           radial_hidden=radial_hidden, cutoff=cutoff,
                           avg_neighbors=avg_neighbors, out_scale=out_scale)
        self.layout = SlotLayout(shells)
        self.elements = sorted(self.layout.shells)
        self.cutoff = cutoff
        self.num_radial = num_radial
        # targets are ~0.05 Ha; unit-variance readouts would start far off
        self.out_scale = out_scale
        ns = self.layout.size
        zmap = torch.full((119,), -1, dtype=torch.long)
        zmap[self.elements] = torch.arange(len(self.elements))
        self.register_buffer('zmap', zmap, persistent=False)
        with _building(optimize_einsums):
            self.irreps = o3.Irreps([(mul, (l, (-1) ** l)) for l in range(lmax + 1)])
            self.irreps_sh = o3.Irreps.spherical_harmonics(lmax)
            lblock = 2 * self.layout.lmax
            self.irreps_sh_pair = o3.Irreps.spherical_harmonics(lblock)
            # every (L, parity) an AO block can contain, `mul` channels each
            self.irreps_pair = o3.Irreps([(mul, (L, p)) for L in range(lblock + 1)
                                          for p in (1, -1)])
            self.embed = torch.nn.Embedding(len(self.elements), mul)
            self.layers = torch.nn.ModuleList(
                Interaction(self.irreps, self.irreps_sh, num_radial, radial_hidden,
                            avg_neighbors) for _ in range(num_layers))
            uuu = _tp_instructions(self.irreps, self.irreps, self.irreps_pair, 'uuu')
            self.tp_pair = o3.TensorProduct(self.irreps, self.irreps, self.irreps_pair, uuu,
                                            shared_weights=False, internal_weights=False)
            self.radial_pair = FullyConnectedNet(
                [num_radial, radial_hidden, self.tp_pair.weight_numel], torch.nn.functional.silu)
            uvu = _tp_instructions(self.irreps, self.irreps_sh_pair, self.irreps_pair, 'uvu')
            self.tp_dir = o3.TensorProduct(self.irreps, self.irreps_sh_pair, self.irreps_pair,
                                           uvu, shared_weights=False, internal_weights=False)
            self.radial_dir = FullyConnectedNet(
                [num_radial, radial_hidden, self.tp_dir.weight_numel], torch.nn.functional.silu)
            self.tp_site = o3.TensorProduct(self.irreps, self.irreps, self.irreps_pair, uuu)
            block_irreps, cg = _block_irreps(self.layout.slots, self.layout.slots)
            self.register_buffer('cg', cg)                       # (ns*ns, dim)
            nel = len(self.elements)
            self.head_site = torch.nn.ModuleList(
                o3.Linear(self.irreps_pair, block_irreps, biases=True) for _ in range(nel))
            self.head_pair = torch.nn.ModuleList(
                o3.Linear(self.irreps_pair, block_irreps, biases=True) for _ in range(nel * nel))
            # the heads' maps applied in one call, each row with its own head's weights (no
            # parameters of its own: the heads hold them). One call instead of one per element
            # (pair) cuts the ops a training step dispatches by ~30%; the step is launch-bound
            # (benchmarks/results/phisnet_water_gpu.md).
            # e3nn takes per-row weights but not per-row biases: those are added by hand at
            # the heads' biased outputs (the scalar, 0e, entries, in order). Held in a tuple so
            # that torch does not register it: it has no parameters, its forward uses none of
            # its buffers, and registering them would change every weights file.
            self._head_rows = (o3.Linear(self.irreps_pair, block_irreps,
                                         internal_weights=False, shared_weights=False),)
            bias_index = [i for s, (_, ir) in zip(block_irreps.slices(), block_irreps)
                          if ir.is_scalar() for i in range(s.start, s.stop)]
            assert len(bias_index) == self.head_pair[0].bias_numel
            self.register_buffer('bias_index', torch.tensor(bias_index), persistent=False)
            # zero readouts: training starts from the baseline + on-site reference instead of
            # first unlearning random output (measured: ~6x lower error after 300 steps)
            with torch.no_grad():
                for head in [*self.head_site, *self.head_pair]:
                    head.weight.zero_()
            # invariant on-site reference (per element, per shell pair of equal l: c * identity),
            # fitted to data before training so the network learns a residual
            self.register_buffer('site_ref', torch.zeros(nel, ns, ns))

    # ---- graph -------------------------------------------------------------------------
    def edges(self, pos, mol_index):
        '''All ordered pairs i != j of the same molecule (within ``cutoff`` Bohr).'''
        same = mol_index[:, None] == mol_index[None, :]
        dist = torch.cdist(pos, pos)
        mask = same & (dist < self.cutoff)
        mask.fill_diagonal_(False)
        src, dst = mask.nonzero(as_tuple=True)
        return src, dst

    def _radial(self, r):
        return soft_one_hot_linspace(r, 0.5, self.cutoff, self.num_radial, basis='gaussian',
                                     cutoff=True) * math.sqrt(self.num_radial)

    # ---- forward -----------------------------------------------------------------------
    def forward(self, z, pos, mol_index=None):
        '''Padded blocks: on-site (natm, ns, ns), pair (nedge, ns, ns) and the edges (i, j).'''
        with _no_einsum_path_search():
            return self._forward(z, pos, mol_index)

    def _forward(self, z, pos, mol_index):
        if mol_index is None:
            mol_index = torch.zeros(len(z), dtype=torch.long, device=z.device)
        el = self.zmap[z]
        if (el < 0).any():
            raise ValueError(f'model has no element(s) {sorted(set(z[el < 0].tolist()))}')
        src, dst = self.edges(pos, mol_index)
        vec = xyz_to_e3nn(pos[dst] - pos[src])           # from j=src to i=dst
        r = vec.norm(dim=-1)
        rad = self._radial(r)
        sh = o3.spherical_harmonics(self.irreps_sh, vec, normalize=True,
                                    normalization='component')
        x = torch.zeros(len(z), self.irreps.dim, dtype=pos.dtype, device=pos.device)
        x[:, :self.embed.embedding_dim] = self.embed(el)
        for layer in self.layers:
            x = layer(x, src, dst, sh, rad)
        # pair features for the ordered pair (i=dst, j=src)
        sh_pair = o3.spherical_harmonics(self.irreps_sh_pair, vec, normalize=True,
                                         normalization='component')
        pair = (self.tp_pair(x[dst], x[src], self.radial_pair(rad))
                + self.tp_dir(x[dst] + x[src], sh_pair, self.radial_dir(rad)))
        site = self.tp_site(x, x)
        ns = self.layout.size
        ptype = el[dst] * len(self.elements) + el[src]
        out_site = self._heads(self.head_site, site, el)          # per element
        out_pair = self._heads(self.head_pair, pair, ptype)       # per ordered element pair
        out_site = out_site.view(-1, ns, ns) + 0.5 * self.site_ref[el]
        return out_site, out_pair.view(-1, ns, ns), (dst, src)

    def _heads(self, heads, x, kind):
        '''Row r of ``x`` through ``heads[kind[r]]``, then into padded AO blocks.'''
        out = self._head_rows[0](x, torch.stack([h.weight for h in heads])[kind])
        out = out.index_add(1, self.bias_index, torch.stack([h.bias for h in heads])[kind])
        return out @ self.cg.T * self.out_scale

    def assemble(self, z, site, pair, edges, mol_index=None):
        '''Symmetric padded matrices, one per molecule: F = M + M^T.'''
        if mol_index is None:
            mol_index = torch.zeros(len(z), dtype=torch.long, device=z.device)
        ns = self.layout.size
        nmol = int(mol_index.max()) + 1
        start = torch.zeros(nmol + 1, dtype=torch.long, device=z.device)
        start[1:] = torch.bincount(mol_index, minlength=nmol).cumsum(0)
        i, j = edges
        out = []
        for m in range(nmol):                            # loop over molecules of a batch
            a0, a1 = int(start[m]), int(start[m + 1])
            n = a1 - a0
            t = site.new_zeros(n, n, ns, ns)
            ar = torch.arange(n, device=z.device)
            t[ar, ar] = site[a0:a1]
            sel = (mol_index[i] == m).nonzero(as_tuple=True)[0]
            t[i[sel] - a0, j[sel] - a0] = pair[sel]
            t = t + t.permute(1, 0, 3, 2)
            out.append(t.permute(0, 2, 1, 3).reshape(n * ns, n * ns))
        return out

    def fock(self, z, pos, mol_index=None):
        '''Fock matrices in the basis' AO order (PySCF's), one per molecule.'''
        if mol_index is None:
            mol_index = torch.zeros(len(z), dtype=torch.long, device=z.device)
        site, pair, edges = self(z, pos, mol_index)
        mats = self.assemble(z, site, pair, edges, mol_index)
        out = []
        for m, mat in enumerate(mats):
            idx = torch.as_tensor(self.layout.ao_index(z[mol_index == m].tolist()),
                                  device=mat.device)
            out.append(mat[idx][:, idx])
        return out

    @torch.no_grad()
    def fit_site_reference(self, samples):
        '''Per element and shell pair of equal l: the mean of the trace/(2l+1) of the on-site
        block over ``samples`` (dicts with Z and a PySCF-order ``fock``).  Rotation invariant.'''
        ns = self.layout.size
        sums = torch.zeros(len(self.elements), ns, ns, dtype=torch.float64)
        counts = torch.zeros(len(self.elements), dtype=torch.float64)
        for s in samples:
            zs = [int(q) for q in s['Z']]
            idx = self.layout.ao_index(zs)
            pad = torch.zeros(len(zs) * ns, len(zs) * ns, dtype=torch.float64)
            f = torch.as_tensor(s['fock'], dtype=torch.float64)
            pad[torch.as_tensor(idx)[:, None], torch.as_tensor(idx)[None, :]] = f
            pad = pad.view(len(zs), ns, len(zs), ns)
            for a, q in enumerate(zs):
                e = self.elements.index(q)
                sums[e] += pad[a, :, a, :]
                counts[e] += 1
        ref = torch.zeros_like(sums)
        off = self.layout.slot_offset
        for e in range(len(self.elements)):
            if counts[e] == 0:
                continue
            mean = sums[e] / counts[e]
            for a, la in enumerate(self.layout.slots):
                for b, lb in enumerate(self.layout.slots):
                    if la == lb:
                        blk = mean[off[a]:off[a] + 2 * la + 1, off[b]:off[b] + 2 * lb + 1]
                        c = torch.trace(blk) / (2 * la + 1)
                        ref[e, off[a]:off[a] + 2 * la + 1, off[b]:off[b] + 2 * lb + 1] = \
                            c * torch.eye(2 * la + 1, dtype=torch.float64)
        self.site_ref.copy_(ref.to(self.site_ref.dtype))


def build_model(config, optimize_einsums=False):
    '''A model from its ``config`` dict (as stored in checkpoints and weight files).'''
    cfg = dict(config)
    cfg['shells'] = {int(z): ls for z, ls in cfg['shells'].items()}
    return HamiltonianModel(**cfg, optimize_einsums=optimize_einsums)


def rebuilt(model, optimize_einsums):
    '''A new model with ``model``'s config and weights, built with or without the
    contraction-order optimisation (``model`` itself is left alone).'''
    new = build_model(model.config, optimize_einsums=optimize_einsums)
    new.load_state_dict(model.state_dict())
    return new

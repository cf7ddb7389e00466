'''PySCF spherical AO order versus e3nn irreps.

Facts (checked on PySCF's S and Hcore, see tests/test_guess_ao_order.py):
- e3nn 0.6 spherical harmonics are y-polar; fed with vectors permuted to (y, z, x) they are the
  usual z-polar real harmonics with m = -l..l, which is PySCF's order for every l >= 2 and for s,
  with no sign changes.  Only p shells differ: PySCF has (px, py, pz), e3nn (py, pz, px).
- A rotation R of the molecule acts on an AO matrix as H -> D H D^T with
  D = blockdiag_shells D_l(P R P^T), P the (x, y, z) -> (y, z, x) permutation.

The model works in a padded "slot" layout: every atom carries the same shell slots (per l, the
most shells any supported element has), in e3nn order.  ``SlotLayout.ao_index`` maps a molecule's
PySCF AOs into that layout, so one gather both reorders p components and drops empty slots.
Nothing here imports PySCF; functions taking ``mol`` only call its methods.
'''
import numpy as np
import torch
from e3nn import o3

from pyscf_ml.e3nn_utils import float64_default

# index maps inside a p shell
P_TO_E3NN = np.array([1, 2, 0])   # v_e3nn = v_pyscf[P_TO_E3NN]
E3NN_TO_P = np.array([2, 0, 1])   # v_pyscf = v_e3nn[E3NN_TO_P]
# (x, y, z) -> (y, z, x): e3nn's frame for Cartesian vectors
XYZ_TO_E3NN = P_TO_E3NN


def xyz_to_e3nn(vec):
    '''Cartesian vectors (..., 3) in the frame e3nn's harmonics expect.'''
    return vec[..., XYZ_TO_E3NN]


class SlotLayout:
    '''Padded per-atom shell slots shared by all elements of a model.

    ``shells``: {atomic number: [l of each shell, in PySCF's basis order]}.
    '''

    def __init__(self, shells):
        self.shells = {int(z): [int(l) for l in ls] for z, ls in shells.items()}
        self.lmax = max(max(ls) for ls in self.shells.values())
        count = [max(ls.count(l) for ls in self.shells.values()) for l in range(self.lmax + 1)]
        self.slots = [l for l in range(self.lmax + 1) for _ in range(count[l])]   # l per slot
        offsets = np.cumsum([0] + [2 * l + 1 for l in self.slots])
        self.slot_offset = offsets[:-1]
        self.size = int(offsets[-1])
        # first slot of each l, so the k-th shell of angular momentum l sits in slot first[l] + k
        self._first = {l: self.slots.index(l) for l in set(self.slots)}

    def atom_index(self, z):
        '''Slot positions (e3nn order) of element z's AOs listed in PySCF order.'''
        if z not in self.shells:
            raise KeyError(f'element Z={z} is not in this layout')
        seen = {}
        idx = []
        for l in self.shells[z]:
            k = seen.get(l, 0)
            seen[l] = k + 1
            off = self.slot_offset[self._first[l] + k]
            comp = E3NN_TO_P if l == 1 else np.arange(2 * l + 1)
            idx.append(off + comp)
        return np.concatenate(idx)

    def ao_index(self, charges):
        '''For a molecule with atomic numbers ``charges``: index into the flattened padded
        matrix (natm * size) of each PySCF AO, so F_pyscf = F_pad[idx][:, idx].'''
        return np.concatenate([a * self.size + self.atom_index(int(z))
                               for a, z in enumerate(charges)])

    def nao(self, charges):
        return sum(len(self.atom_index(int(z))) for z in charges)


def mol_shells(mol):
    '''{atomic number: [l per shell]} of a PySCF molecule (one contraction per shell assumed
    by the layout; general contractions are expanded).'''
    out = {}
    for a in range(mol.natm):
        ls = []
        for b in mol.atom_shell_ids(a):
            ls += [mol.bas_angular(b)] * mol.bas_nctr(b)
        z = int(mol.atom_charge(a))
        if z in out and out[z] != ls:
            raise ValueError(f'atoms of Z={z} carry different basis sets')
        out[z] = ls
    return out


def pyscf_to_e3nn_index(mol):
    '''Permutation of PySCF AOs into e3nn order (p shells become (py, pz, px)).'''
    idx = np.arange(mol.nao_nr())
    ao_loc = mol.ao_loc_nr()
    for b in range(mol.nbas):
        if mol.bas_angular(b) == 1:
            for c in range(mol.bas_nctr(b)):
                p0 = ao_loc[b] + 3 * c
                idx[p0:p0 + 3] = p0 + P_TO_E3NN
    return idx


def ao_rotation(mol, rot):
    '''D (nao, nao), PySCF order, with H(pos @ rot.T) = D H(pos) D^T for AO matrices H.'''
    rot = torch.as_tensor(rot, dtype=torch.float64)
    perm = torch.as_tensor(XYZ_TO_E3NN)
    rot_e = rot[perm][:, perm]                        # P R P^T
    d = np.zeros((mol.nao_nr(), mol.nao_nr()))
    ao_loc = mol.ao_loc_nr()
    for b in range(mol.nbas):
        l = mol.bas_angular(b)
        with float64_default():
            dl = o3.Irrep(l, (-1) ** l).D_from_matrix(rot_e).numpy()
        for c in range(mol.bas_nctr(b)):
            p0 = ao_loc[b] + (2 * l + 1) * c
            d[p0:p0 + 2 * l + 1, p0:p0 + 2 * l + 1] = dl
    idx = pyscf_to_e3nn_index(mol)
    inv = np.argsort(idx)
    return d[inv][:, inv]                              # e3nn blocks back to PySCF order

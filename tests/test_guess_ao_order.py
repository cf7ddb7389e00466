'''PySCF AO order <-> e3nn conventions: rotating a molecule must act on PySCF's own AO matrices
as D H D^T with D built from e3nn's Wigner matrices (pyscf_ml.guess.ao_order).'''
import numpy as np
import pytest
import scipy.linalg
import torch
from e3nn import o3
from pyscf import gto
from scipy.spatial.transform import Rotation

from pyscf_ml.e3nn_utils import float64_default
from pyscf_ml.guess.ao_order import (
    E3NN_TO_P,
    P_TO_E3NN,
    XYZ_TO_E3NN,
    SlotLayout,
    ao_rotation,
    mol_shells,
    pyscf_to_e3nn_index,
)

ATOMS = 'O 0.1 0.2 0.3; C 1.3 0.1 -0.4; H -0.5 0.8 0.1; N 0.3 -1.1 0.9'


@pytest.mark.parametrize('basis', ['def2-svp', 'def2-tzvp'])   # s, p, d (+ f in TZVP)
def test_rotation_roundtrips_overlap_and_hcore(basis):
    mol = gto.M(atom=ATOMS, basis=basis, verbose=0)
    rot = Rotation.random(random_state=7).as_matrix()
    shift = np.array([0.4, -1.2, 2.0])
    mol_r = mol.set_geom_(mol.atom_coords() @ rot.T + shift, unit='Bohr', inplace=False)
    d = ao_rotation(mol, rot)
    assert np.abs(d @ d.T - np.eye(mol.nao)).max() < 1e-12
    for h, h_r in [(mol.intor('int1e_ovlp'), mol_r.intor('int1e_ovlp')),
                   (mol.intor('int1e_kin') + mol.intor('int1e_nuc'),
                    mol_r.intor('int1e_kin') + mol_r.intor('int1e_nuc'))]:
        assert np.abs(h_r - h).max() > 1e-2          # the rotation is not trivial
        assert np.abs(d @ h @ d.T - h_r).max() < 1e-12


def test_p_maps_are_inverse():
    assert (P_TO_E3NN[E3NN_TO_P] == np.arange(3)).all()
    mol = gto.M(atom=ATOMS, basis='def2-svp', verbose=0)
    idx = pyscf_to_e3nn_index(mol)
    labels = np.array(mol.ao_labels())[idx]
    # after the permutation each p shell reads (py, pz, px)
    first_p = [i for i, l in enumerate(labels) if 'p' in l.split()[2]][:3]
    assert [labels[i].split()[2][-1] for i in first_p] == ['y', 'z', 'x']


def test_slot_layout_gathers_pyscf_order():
    mol = gto.M(atom=ATOMS, basis='def2-svp', verbose=0)
    layout = SlotLayout(mol_shells(mol))
    assert layout.size == 14                        # 3s2p1d
    charges = [int(q) for q in mol.atom_charges()]
    idx = layout.ao_index(charges)
    assert len(idx) == mol.nao == layout.nao(charges)
    assert len(set(idx.tolist())) == len(idx)
    # every padded slot holds its AOs in e3nn order: rotating the padded overlap slot by slot
    # with e3nn's own Wigner matrices and gathering gives PySCF's overlap of the rotated molecule
    s = mol.intor('int1e_ovlp')
    pad = np.zeros((mol.natm * layout.size,) * 2)
    pad[np.ix_(idx, idx)] = s
    rot = Rotation.random(random_state=3).as_matrix()
    rot_e = torch.as_tensor(rot[XYZ_TO_E3NN][:, XYZ_TO_E3NN])          # P R P^T
    with float64_default():
        d_slots = [o3.Irrep(l, (-1) ** l).D_from_matrix(rot_e).numpy() for l in layout.slots]
    d_pad = scipy.linalg.block_diag(*(d_slots * mol.natm))
    mol_r = mol.set_geom_(mol.atom_coords() @ rot.T, unit='Bohr', inplace=False)
    s_r = mol_r.intor('int1e_ovlp')
    assert np.abs(s_r - s).max() > 1e-2
    assert np.abs((d_pad @ pad @ d_pad.T)[np.ix_(idx, idx)] - s_r).max() < 1e-12
    h_index = layout.atom_index(1)                  # H: s, s, p(x, y, z)
    assert h_index[:2].tolist() == [0, 1] and h_index[2:].tolist() == (3 + E3NN_TO_P).tolist()

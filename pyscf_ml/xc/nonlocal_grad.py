'''Nuclear-gradient XC terms of nonlocal learned functionals (NN-NRA).

PySCF's ``grad.rks.get_vxc`` evaluates the functional block by block, which would give NN-NRA a
wrong potential; here the potential comes from the whole grid (see nonlocal_numint) and is then
contracted with AO derivatives block by block.  Grid response (the motion of grid points and
weights with the atoms, and of the kernel with them) is not included.
'''
import numpy as np
from pyscf.grad import rks as rks_grad

from pyscf_ml.xc.nonlocal_numint import eval_nonlocal, rho_on_grid


def _contract(ni, mol, grids, wv, max_memory):
    '''-d/dR of the AO matrix elements of a weighted meta-GGA potential: (nset, 3, nao, nao).'''
    nset, nao = wv.shape[0], mol.nao
    ao_loc = mol.ao_loc_nr()
    vmat = np.zeros((nset, 3, nao, nao))
    p1 = 0
    for ao, mask, weight, _ in ni.block_loop(mol, grids, nao, 2, max_memory=max_memory):
        p0, p1 = p1, p1 + weight.size
        for i in range(nset):
            w = wv[i, :, p0:p1].copy()
            w[0] *= .5
            w[4] *= .5
            rks_grad._gga_grad_sum_(vmat[i], mol, ao, w, mask, ao_loc)
            rks_grad._tau_grad_dot_(vmat[i], mol, ao, w[4], mask, ao_loc, True)
    return -vmat   # nabla_X = -nabla_x


def get_vxc_rks(ni, fn, mol, grids, dms, hermi=1, max_memory=2000):
    '''Same return values as ``pyscf.grad.rks.get_vxc``.'''
    dms = np.asarray(dms)
    dm_list = dms.reshape(-1, mol.nao, mol.nao)
    rho = rho_on_grid(ni, mol, grids, dm_list, hermi, max_memory)
    wv = np.empty_like(rho)
    for i in range(len(dm_list)):
        wv[i] = eval_nonlocal(fn, rho[i:i + 1], 0, grids)[1][0] * grids.weights
    vmat = _contract(ni, mol, grids, wv, max_memory)
    # no grid response (zeros, not None: with grid_response=True PySCF sums and indexes it)
    return np.zeros((mol.natm, 3)), (vmat[0] if dms.ndim == 2 else vmat)


def get_vxc_uks(ni, fn, mol, grids, dms, hermi=1, max_memory=2000):
    '''Same return values as ``pyscf.grad.uks.get_vxc`` (dms: alpha and beta).'''
    dms = np.asarray(dms)
    rho = rho_on_grid(ni, mol, grids, dms.reshape(2, mol.nao, mol.nao), hermi, max_memory)
    wv = eval_nonlocal(fn, rho, 1, grids)[1] * grids.weights
    vmat = _contract(ni, mol, grids, wv, max_memory)
    return np.zeros((mol.natm, 3)), vmat

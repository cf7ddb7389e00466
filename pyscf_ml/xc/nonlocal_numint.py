'''Whole-grid evaluation of nonlocal learned functionals (NN-NRA) for the SCF.

PySCF evaluates functionals one grid block at a time, but NN-NRA's descriptor R at a point needs
the density at every point within the kernel cutoff, wherever its block is.  As PySCF's VV10
code does, we gather the density on the whole grid first, evaluate energy and potential there
(adding the kernel's extra potential), then build the matrix block by block.
'''
import numpy as np
import torch
from pyscf.dft import numint

from pyscf_ml.device import get_device
from pyscf_ml.xc.nra_kernel import get_kernel


def rho_on_grid(ni, mol, grids, dms, hermi=1, max_memory=2000):
    '''Meta-GGA density rows (rho, grad rho, tau) of each dm on the whole grid: (nset, 5, N).'''
    if grids.coords is None:
        grids.build(with_non0tab=True)
    make_rho, nset, nao = ni._gen_rho_evaluator(mol, dms, hermi, False, grids)
    rho = np.empty((nset, 5, grids.weights.size))
    p1 = 0
    for ao, mask, weight, _ in ni.block_loop(mol, grids, nao, 1, max_memory=max_memory):
        p0, p1 = p1, p1 + weight.size
        for i in range(nset):
            rho[i, :, p0:p1] = make_rho(i, ao, mask, 'MGGA')
    return rho


def eval_nonlocal(fn, rho, spin, grids):
    '''eps_xc (N,) and the eff potential (spin+1, 5, N) of a nonlocal functional, the kernel's
    extra potential included.  ``rho`` is (spin+1, 5, N) on the whole grid.'''
    device = get_device()
    method = 'sparse' if device.type == 'cpu' else 'blocked'
    kernel = get_kernel(grids.coords)
    weights = grids.weights
    x = torch.as_tensor(rho, device=device)
    w = torch.as_tensor(weights, device=device)
    wn = w * x[:, 0].sum(0)
    R = kernel.matvec(wn.cpu().numpy() if method == 'sparse' else wn, method)
    eps, v, _, dedR = fn.energy_and_derivatives(x, spin, 1, R=torch.as_tensor(R, device=device))
    wdedR = w * dedR
    v_nl = kernel.matvec(wdedR.cpu().numpy() if method == 'sparse' else wdedR, method)
    # R depends on the total density, so the extra potential acts on each spin channel
    v[:, 0] += torch.as_tensor(v_nl, device=device)
    return eps.cpu().numpy(), v.cpu().numpy()


def mgga_matrix(ni, mol, grids, wv, max_memory=2000):
    '''AO matrices sum_g of a meta-GGA potential; ``wv`` (nset, 5, N) is already weighted.'''
    nset = wv.shape[0]
    nao = mol.nao
    ao_loc = mol.ao_loc_nr()
    shls_slice = (0, mol.nbas)
    half = np.zeros((nset, nao, nao))
    vtau = np.zeros((nset, nao, nao))
    p1 = 0
    for ao, mask, weight, _ in ni.block_loop(mol, grids, nao, 1, max_memory=max_memory):
        p0, p1 = p1, p1 + weight.size
        for i in range(nset):
            w = wv[i, :, p0:p1].copy()
            w[0] *= .5   # half here, the other half from the transpose below
            w[4] *= .5   # tau = 1/2 sum |grad phi|^2
            aow = numint._scale_ao(ao[:4], w[:4])
            half[i] += numint._dot_ao_ao(mol, ao[0], aow, mask, shls_slice, ao_loc)
            vtau[i] += numint._tau_dot(mol, ao, ao, w[4], mask, shls_slice, ao_loc)
    return half + half.transpose(0, 2, 1) + vtau


def nr_rks(ni, fn, mol, grids, dms, hermi=1, max_memory=2000):
    '''(nelec, exc, vxc) like ``NumInt.nr_rks`` for a nonlocal learned functional.'''
    dms = np.asarray(dms)
    single = dms.ndim == 2
    dm_list = dms.reshape(-1, mol.nao, mol.nao)
    rho = rho_on_grid(ni, mol, grids, dm_list, hermi, max_memory)
    w = grids.weights
    nelec, excsum = np.zeros(len(dm_list)), np.zeros(len(dm_list))
    wv = np.empty_like(rho)
    for i in range(len(dm_list)):
        eps, v = eval_nonlocal(fn, rho[i:i + 1], 0, grids)
        den = rho[i, 0] * w
        nelec[i], excsum[i] = den.sum(), den @ eps
        wv[i] = v[0] * w
    vmat = mgga_matrix(ni, mol, grids, wv, max_memory)
    if single:
        return nelec[0], excsum[0], vmat[0]
    return nelec, excsum, vmat.reshape(dms.shape)


def nr_uks(ni, fn, mol, grids, dms, hermi=1, max_memory=2000):
    '''(nelec, exc, vxc) like ``NumInt.nr_uks`` for a nonlocal learned functional.'''
    dma, dmb = numint._format_uks_dm(dms)
    dma, dmb = np.asarray(dma), np.asarray(dmb)
    single = dma.ndim == 2
    nao = mol.nao
    dma, dmb = dma.reshape(-1, nao, nao), dmb.reshape(-1, nao, nao)
    nset = len(dma)
    rho = rho_on_grid(ni, mol, grids, np.concatenate([dma, dmb]), hermi, max_memory)
    rho = rho.reshape(2, nset, 5, -1)
    w = grids.weights
    nelec, excsum = np.zeros((2, nset)), np.zeros(nset)
    wv = np.empty_like(rho)
    for i in range(nset):
        eps, v = eval_nonlocal(fn, rho[:, i], 1, grids)
        den = rho[:, i, 0] * w
        nelec[:, i] = den.sum(axis=1)
        excsum[i] = den.sum(axis=0) @ eps
        wv[:, i] = v * w
    vmat = mgga_matrix(ni, mol, grids, wv.reshape(2 * nset, 5, -1), max_memory)
    vmat = vmat.reshape(2, nset, nao, nao)
    if single:
        return nelec[:, 0], excsum[0], vmat[:, 0]
    return nelec, excsum, vmat

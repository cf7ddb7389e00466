'''Where 16B's LiH collapse goes (stage 17 write-up): OF-DFT from SAD at LiH
1.45 Angstrom against RKS-LDA (unc-cc-pvdz, grid level 2); electrons within spheres around each
nucleus; energy components at the OF minimum and at the KS density (psi = sqrt(rho_KS / N)
fitted in the AO basis, so not exactly rho_KS).

    python benchmarks/results/kineticnet_stage17/lih_collapse_anatomy.py \
        > benchmarks/results/kineticnet_stage17/lih_collapse_anatomy.txt
'''
import warnings

import numpy as np
from pyscf import dft, gto

from pyscf_ml.ofdft import OFDFT
from pyscf_ml.ofdft.learned import KineticNetFunctional
from pyscf_ml.ofdft.solver import fit_psi

KCAL = 627.509474
WEIGHTS_16B = 'benchmarks/results/kineticnet_stage16/B/kineticnet.pt'   # shipped since c1573bf


def electrons_within(grids, rho, centre, radii):
    r = np.linalg.norm(grids.coords - centre, axis=1)
    return [grids.weights[r < x] @ rho[r < x] for x in radii]


def main():
    mol = gto.M(atom='Li 0 0 0; H 0 0 1.45', basis='unc-cc-pvdz', verbose=0)
    ks = dft.RKS(mol, xc='lda,vwn')
    ks.grids.level = 2
    ks.conv_tol = 1e-10
    ks.kernel()
    of = OFDFT(mol, kinetic=KineticNetFunctional(weights=WEIGHTS_16B), xc='lda,vwn')
    of.grids.level = 2
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        of.kernel()
    print(f'E_OF - E_KS = {(of.e_tot - ks.e_tot) * KCAL:.1f} kcal/mol, converged {of.converged}')
    rho_ks = dft.numint.NumInt().get_rho(mol, ks.make_rdm1(), of.grids)
    # Li-H is 2.74 bohr: spheres around Li beyond ~1.7 bohr reach into H's region
    for atom, radii in ((0, (0.3, 0.6, 1.0, 1.5, 2.0, 3.0)), (1, (0.5, 1.0, 1.5))):
        n_ks = electrons_within(of.grids, rho_ks, mol.atom_coord(atom), radii)
        n_of = electrons_within(of.grids, of.rho, mol.atom_coord(atom), radii)
        print(f'electrons within r (bohr) of {mol.atom_symbol(atom)}: r, KS, OF')
        for r, a, b in zip(radii, n_ks, n_of):
            print(f'  {r:4.1f}  {a:.3f}  {b:.3f}')
    e_fit, _, comps = of.energy_and_grad(fit_psi(of, ks.make_rdm1()))
    print('components at the OF minimum (Ha):',
          {k: round(v, 4) for k, v in of.scf_summary.items()})
    print(f'OF functional at the fitted KS density: E - E_KS = {(e_fit - ks.e_tot) * KCAL:.1f} '
          'kcal/mol')
    print('components there (Ha):', {k: round(v, 4) for k, v in comps.items()})
    t_s = np.einsum('ij,ji->', mol.intor('int1e_kin'), ks.make_rdm1())
    print(f'KS T_s = {t_s:.4f} Ha')


if __name__ == '__main__':
    main()

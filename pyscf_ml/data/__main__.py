import sys

from pyscf_ml.cli import dispatch

COMMANDS = {
    'xc-grid': ('pyscf_ml.data.xc_grid', 'grid samples of conventional XC energy densities '
                '(first training stage of the nn-* functionals)'),
    'xc-reference': ('pyscf_ml.data.xc_reference', 'CCSD densities and G2 atomization '
                     'energies for training nn-* functionals'),
    'phisnet': ('pyscf_ml.data.phisnet', 'conformers and PBE/def2-SVP Fock matrices for the '
                'Hamiltonian model'),
    'ofdft': ('pyscf_ml.data.ofdft', 'KS densities under random potentials for the learned '
              'kinetic functional'),
    'ofdft-path': ('pyscf_ml.data.ofdft_path', 'KS labels (by density inversion) at the '
                   'densities an OF-DFT optimisation with the learned kinetic functional visits'),
}

if __name__ == '__main__':
    sys.exit(dispatch('pyscf_ml.data', COMMANDS))

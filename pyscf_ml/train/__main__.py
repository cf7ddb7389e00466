import sys

from pyscf_ml.cli import dispatch

COMMANDS = {
    'xc': ('pyscf_ml.train.xc', 'fit an nn-* functional (energy-density stage)'),
    'phisnet': ('pyscf_ml.train.phisnet', 'train the equivariant Hamiltonian model'),
    'kineticnet': ('pyscf_ml.train.kineticnet', 'train the learned kinetic functional'),
}

if __name__ == '__main__':
    sys.exit(dispatch('pyscf_ml.train', COMMANDS))

'''Fock-matrix errors of Hamiltonian models in the reference MO basis (the --mo-loss term of
``python -m pyscf_ml.train phisnet``), on the first validation conformers of a data set.

For each model: the AO mean squared error, the MO term sum_pq (C^T dF C)_pq^2 w_pq^2 / n_AO
(averaged over conformers) and, per conformer, the largest |(C^T dF C)_pq| w_pq.

    python benchmarks/mo_error.py --data runs/data/uracil.pt \\
        --models pyscf_ml/weights/phisnet_uracil.pt runs/phisnet_uracil_mo3.pt --n-conf 5
'''
import argparse
import sys

import torch

from pyscf_ml.e3nn_utils import load_trained_state
from pyscf_ml.guess.model import build_model
from pyscf_ml.train import phisnet as trainer


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True)
    p.add_argument('--models', nargs='+', required=True, help='weight files')
    p.add_argument('--n-conf', type=int, default=5)
    args = p.parse_args(argv)
    samples = trainer.add_residual_targets(trainer.load_samples([args.data]))
    val = trainer.add_mo_weights([s for s in samples if s['split'] == 'val'][:args.n_conf])
    data = trainer.to_tensors(val, torch.float64, 'cpu')
    print('Command: `python benchmarks/mo_error.py ' + ' '.join(sys.argv[1:] if argv is None
                                                             else argv) + '`\n')
    print('| model | n | AO MSE | MO term | largest weighted MO error per conformer |')
    print('|---|---|---|---|---|')
    for path in args.models:
        blob = torch.load(path, map_location='cpu', weights_only=True)
        model = build_model(blob['config'])
        load_trained_state(model, blob['state_dict'])   # keeps exact float64 constants
        model = model.double().eval()
        with torch.no_grad():
            preds = trainer.batch_fock(model, data)
            ao = trainer.batch_loss(preds, data, 0.0).item()
            mo = trainer.batch_loss(preds, data, 1.0).item() - ao
            worst = [((b['mo_coeff'].T @ (f - b['fock']) @ b['mo_coeff']) * b['mo_weight'])
                     .abs().max().item() for f, b in zip(preds, data)]
        print(f'| {path} | {len(data)} | {ao:.3g} | {mo:.3g} | '
              f'{" ".join(f"{x:.2f}" for x in worst)} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())

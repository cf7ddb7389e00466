'''KineticNet weight files side by side on one set of labelled samples (a fixed validation set).

For each weight file: the Pauli-energy MAE per molecule (kcal/mol; ofdft-path samples are
listed as '<molecule> path') and the trainer's selection score (mean error in the loss's units,
path samples scaled with ``--path-rel``), so that models trained with different settings are
compared on equal terms:

    python benchmarks/kineticnet_validation.py \\
        --data runs/ofdft_data/val.pt,runs/ofdft_data/lih_path_val.pt \\
        --weights shipped=pyscf_ml/weights/kineticnet.pt candidate=runs/kn7/B/kineticnet.pt
'''
import argparse

import numpy as np
import torch
from weight_args import kineticnet_files, tag_file_pairs  # benchmarks/weight_args.py

from pyscf_ml.ofdft.learned import load_mean_model  # float64, each file checked against its card
from pyscf_ml.train.kineticnet import evaluate, load_samples, summarize


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True, help='sample file(s), comma separated')
    p.add_argument('--weights', nargs='+', required=True,
                   help='TAG=weights.pt, or TAG=a.pt+b.pt+... for the mean of several networks')
    p.add_argument('--path-rel', type=float, default=0.05,
                   help='path-sample scaling of the score, as the trainer\'s --path-rel '
                        '(0.05: the value stages 3-7 trained with)')
    args = p.parse_args(argv)
    samples = load_samples(args.data.split(','))[1]
    table = {}
    for tag, path in tag_file_pairs(args.weights):
        model = load_mean_model(kineticnet_files(path), device='cpu')
        rows = evaluate(model, samples, torch.float64, 'cpu', args.path_rel)
        table[tag] = (summarize(rows), float(np.mean([r[3] for r in rows])))
    first = next(iter(table.values()))[0]
    names = [n for n in first if n != 'all']
    print(f'`python benchmarks/kineticnet_validation.py --data {args.data} --weights '
          f'{" ".join(args.weights)} --path-rel {args.path_rel:g}`\n')
    print('| weights | ' + ' | '.join(f'{n} (n={first[n]["n"]})' for n in names)
          + ' | score |')
    print('|---' * (len(names) + 2) + '|')
    for tag, (summary, score) in table.items():
        print(f'| {tag} | ' + ' | '.join(f'{summary[n]["mae_kcal"]:.2f}' for n in names)
              + f' | {score:.3f} |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())

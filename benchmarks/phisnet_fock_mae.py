'''Fock-matrix MAE of phisnet weight files on one split of phisnet data files, side by side.

    python benchmarks/phisnet_fock_mae.py --split val \
        --data runs/data/small-hcno.pt runs/data/g2-hcno-val.pt \
        --weights shipped=pyscf_ml/weights/phisnet_hcno.pt new=runs/phisnet_hcno_v3.pt

Prints a markdown table: per molecule and pooled over all matrix elements, in uHa, computed
exactly as the trainer's validation metric (float32 model, residual over Hcore + V_SAP).  The
rule for choosing weights names the split; use ``--split val`` for selection and ``test`` only
to report.
'''
import argparse
import os
import sys

import torch
from weight_args import tag_file_pairs  # benchmarks/weight_args.py

from pyscf_ml.device import get_device
from pyscf_ml.guess.predict import load_model
from pyscf_ml.train.phisnet import (
    add_residual_targets,
    evaluate,
    load_samples,
    to_tensors,
)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', nargs='+', required=True)
    p.add_argument('--split', choices=['train', 'val', 'test'], default='val')
    p.add_argument('--weights', nargs='+', required=True, help='tag=file pairs')
    args = p.parse_args(argv)
    weights = tag_file_pairs(args.weights)
    tags = [tag for tag, _ in weights]
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '1')))
    samples = add_residual_targets([s for s in load_samples(args.data)
                                    if s['split'] == args.split])
    if not samples:
        raise SystemExit(f'no {args.split} samples in {args.data}')
    # every model is loaded (float32, eval mode) onto get_device(): the tensors are made once
    tensors = to_tensors(samples, torch.float32, get_device())
    results = {tag: evaluate(load_model(path).model, tensors) for tag, path in weights}
    names = sorted({s['name'] for s in samples})
    count = {n: sum(s['name'] == n for s in samples) for n in names}
    command = 'python benchmarks/phisnet_fock_mae.py ' + ' '.join(
        sys.argv[1:] if argv is None else argv)
    print(f'Command: `{command}`\n')
    print(f'Fock MAE (uHa) on the {args.split} split of {", ".join(args.data)}\n')
    print('| molecule | n | ' + ' | '.join(tags) + ' |')
    print('|---|---|' + '---|' * len(tags))
    for n in names:
        print(f'| {n} | {count[n]} | '
              + ' | '.join(f'{results[t][1][n] * 1e6:.0f}' for t in tags) + ' |')
    print(f'| **pooled** | {len(samples)} | '
          + ' | '.join(f'**{results[t][0] * 1e6:.1f}**' for t in tags) + ' |')


if __name__ == '__main__':
    main()

'''Compare each regenerated stage-14 data file (runs/ofdft_data_g) with the file of the same name
made earlier (runs/ofdft_data): grid points and weights, rho, T_P and projected derivatives,
bit for bit.

    python benchmarks/results/kineticnet_stage14/compare_regenerated.py > regenerated_files.txt
'''
import gc
import glob
import os

import torch

for g in sorted(glob.glob('runs/ofdft_data_g/*.pt')):
    n = os.path.basename(g)
    a = torch.load('runs/ofdft_data/' + n, weights_only=False)['samples']
    b = torch.load(g, weights_only=False)['samples']
    same = len(a) == len(b) and all(
        x['T_pauli'] == y['T_pauli'] and torch.equal(x['rho'], y['rho'])
        and torch.equal(x['dpauli'], y['dpauli']) and torch.equal(x['coords'], y['coords'])
        and torch.equal(x['weights'], y['weights'])
        for x, y in zip(a, b))
    print(n, len(a), len(b), 'identical' if same else 'DIFFERENT', flush=True)
    del a, b
    gc.collect()

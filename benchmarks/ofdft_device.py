'''OF-DFT with KineticNet on the CPU and on a GPU, side by side in one run.

For linear H chains (unc-cc-pvdz, LDA, density fitting, grid level 2, as in
benchmarks/ofdft.py): wall time of RKS (PySCF's density fitting), of OF-DFT with TF+1/9vW and of
OF-DFT with KineticNet with its torch work on the CPU and, when CUDA is present, on the GPU; the
share of each KineticNet run spent in the network (energy and functional derivative, host<->device
copies included); and the energy difference between the two devices.  Same threads for every
column::

    python benchmarks/ofdft_device.py [--sizes 8,16,32,64] [--threads N]
'''
import argparse
import time

import numpy as np
import torch
from call_timer import CallTimer  # benchmarks/call_timer.py
from ofdft import _fit, h_chain, table  # benchmarks/ofdft.py
from pyscf import dft, lib

from pyscf_ml.ofdft import OFDFT
from pyscf_ml.ofdft.learned import KineticNetFunctional


def run_of(mol, kinetic, device=None):
    if kinetic == 'kineticnet':
        kinetic = KineticNetFunctional(device=device)
    of = OFDFT(mol, kinetic=kinetic, xc='lda,vwn')
    of.density_fit = True
    of.grids.level = 2
    with CallTimer((KineticNetFunctional, 'energy_and_potential')) as timer:
        t0 = time.perf_counter()
        of.kernel()
        wall = time.perf_counter() - t0
    return of, wall, timer.seconds


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--sizes', default='8,16,32,64')
    p.add_argument('--threads', type=int, default=None,
                   help='threads for PySCF and torch (default: all)')
    args = p.parse_args(argv)
    if args.threads:
        lib.num_threads(args.threads)
        torch.set_num_threads(args.threads)
    devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    gpu = torch.cuda.get_device_name() if 'cuda' in devices else 'none'
    print(f'# threads: PySCF {lib.num_threads()}, torch {torch.get_num_threads()}; '
          f'torch {torch.__version__}; GPU: {gpu}')
    # load the weights and build the model once per device, untimed (a session pays it once)
    for device in devices:
        run_of(h_chain(2), 'kineticnet', device)
    head = ['n(H)', 'RKS (s)', 'OF TF+1/9vW (s)']
    for device in devices:
        head += [f'OF KineticNet {device} (s, x RKS, net %)']
    if len(devices) == 2:
        head += ['cpu / cuda', 'E(cuda) - E(cpu) (Ha)']
    rows = []
    sizes = [int(x) for x in args.sizes.split(',')]
    labels = ['RKS', 'OF TF+1/9vW'] + [f'OF KineticNet {d}' for d in devices]
    times = {label: [] for label in labels}
    for n in sizes:
        mol = h_chain(n)
        ks = dft.RKS(mol, xc='lda,vwn').density_fit()
        ks.grids.level = 2
        t0 = time.perf_counter()
        ks.kernel()
        t_ks = time.perf_counter() - t0
        _, t_tf, _ = run_of(mol, 'tf+1/9vw')
        times['RKS'].append(t_ks)
        times['OF TF+1/9vW'].append(t_tf)
        row = [n, f'{t_ks:.2f}', f'{t_tf:.2f}']
        res = {}
        for device in devices:
            of, wall, net = run_of(mol, 'kineticnet', device)
            res[device] = (of, wall)
            times[f'OF KineticNet {device}'].append(wall)
            conv = '' if of.converged else ', NOT conv'
            row.append(f'{wall:.2f} ({wall / t_ks:.1f}x, {100 * net / wall:.0f}%{conv})')
        if len(devices) == 2:
            row.append(f'{res["cpu"][1] / res["cuda"][1]:.1f}')
            row.append(f'{res["cuda"][0].e_tot - res["cpu"][0].e_tot:+.1e}')
        rows.append(row)
        print(row, flush=True)
    ns = np.array(sizes, dtype=float)
    rows.append(['exponent p (t ~ n^p, last 3 sizes)']
                + [_fit(ns, np.array(t)) for t in times.values()]
                + [''] * (len(head) - 1 - len(times)))
    print()
    print(table(head, rows))

if __name__ == '__main__':
    main()

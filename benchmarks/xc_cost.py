'''Cost of the learned functionals against SCAN, side by side in one run.

For each molecule (def2-TZVP, default grids, the same grid object for every functional):
SCF wall time, cycles and time per cycle of nn-lsda, nn-gga, nn-metagga, nn-nra and SCAN, the
ratio to SCAN, the NN-NRA kernel (build time, nonzeros, memory, time per application) and, when
CUDA is present, the same on the GPU.  Column 'net %' is the share of the SCF wall time spent in
the learned functional's torch work: the network with its input gradient, the NN-NRA kernel
applications (the kernel itself is built before the SCFs, in the kernel statistics) and the
host<->device copies of densities and potentials, timed around ``TorchFunctional.eval_eff`` and
``nonlocal_numint.eval_nonlocal`` with a CUDA synchronisation at each end.

    python benchmarks/xc_cost.py [--molecules water ethanol benzene] [--basis def2-tzvp]
'''
import argparse
import resource
import time

import torch
from call_timer import CallTimer, sync  # benchmarks/call_timer.py
from pyscf import dft, gto, lib

import pyscf_ml
from pyscf_ml.xc import functional, nonlocal_numint
from pyscf_ml.xc.nra_kernel import get_kernel

MOLECULES = {
    'water': 'O 0 0 0.1173; H 0 0.7572 -0.4692; H 0 -0.7572 -0.4692',
    'ethanol': '''C -0.0110 -0.5566 0.0000; C 1.2050 0.3522 0.0000; O -1.1698 0.2562 0.0000;
                  H -0.0480 -1.1961 0.8819; H -0.0480 -1.1961 -0.8819; H 2.1210 -0.2349 0.0000;
                  H 1.1893 0.9936 0.8810; H 1.1893 0.9936 -0.8810; H -1.9340 -0.3240 0.0000''',
    'benzene': '''C 0.0000 1.3970 0; C 1.2098 0.6985 0; C 1.2098 -0.6985 0; C 0.0000 -1.3970 0;
                  C -1.2098 -0.6985 0; C -1.2098 0.6985 0; H 0.0000 2.4810 0; H 2.1486 1.2405 0;
                  H 2.1486 -1.2405 0; H 0.0000 -2.4810 0; H -2.1486 -1.2405 0;
                  H -2.1486 1.2405 0''',
}
FUNCTIONALS = ['scan', 'nn-lsda', 'nn-gga', 'nn-metagga', 'nn-nra']


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def warm_up(xc):
    '''Load a learned functional's weights and run its network and input gradient once,
    untimed: a user session pays this once (on CUDA it includes the first kernels' set-up).'''
    fn = pyscf_ml.xc.lookup(xc)
    if fn is not None:
        x = torch.zeros((8, fn.spec.n_features), dtype=torch.float64,
                        device=pyscf_ml.get_device(), requires_grad=True)
        fn.net()(x).sum().backward()


def run_scf(mol, grids, xc):
    warm_up(xc)
    mf = dft.RKS(mol, xc=xc)
    mf.grids = grids
    mf.conv_tol = 1e-8
    with CallTimer((functional.TorchFunctional, 'eval_eff'),
                   (nonlocal_numint, 'eval_nonlocal')) as timer:
        t0 = time.perf_counter()
        e = mf.kernel()
        wall = time.perf_counter() - t0
    return dict(e=e, wall=wall, cycles=mf.cycles, per_cycle=wall / max(mf.cycles, 1),
                converged=mf.converged, net=timer.seconds / wall)


def kernel_stats(grids):
    t0 = time.perf_counter()
    kernel = get_kernel(grids.coords)
    kernel.build_sparse()
    build = time.perf_counter() - t0
    x = grids.weights.copy()
    t0 = time.perf_counter()
    for _ in range(3):
        kernel.matvec(x)
    apply = (time.perf_counter() - t0) / 3
    upper = kernel.build_sparse()
    mem = (upper.data.nbytes + upper.row.nbytes + upper.col.nbytes) / 1e9
    out = dict(points=grids.weights.size, nnz=kernel.nnz, build=build, apply=apply, mem=mem)
    if torch.cuda.is_available():
        xt = torch.as_tensor(x, device='cuda')
        kernel.matvec(xt, 'blocked')
        sync()
        t0 = time.perf_counter()
        kernel.matvec(xt, 'blocked')
        sync()
        out['apply_gpu'] = time.perf_counter() - t0
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--molecules', nargs='*', default=list(MOLECULES))
    p.add_argument('--basis', default='def2-tzvp')
    p.add_argument('--functionals', nargs='*', default=FUNCTIONALS)
    args = p.parse_args()
    devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    print(f'# threads: {lib.num_threads()}, torch {torch.__version__}, devices: {devices}')
    rows = []
    for name in args.molecules:
        mol = gto.M(atom=MOLECULES[name], basis=args.basis, verbose=0)
        grids = dft.gen_grid.Grids(mol)
        grids.build()
        if 'nn-nra' in args.functionals:
            ks = kernel_stats(grids)
            print(f'# {name}: NRA kernel on {ks["points"]} points: {ks["nnz"] / 1e6:.1f} M '
                  f'nonzeros, build {ks["build"]:.1f} s, {ks["mem"]:.2f} GB, '
                  f'apply {ks["apply"]:.3f} s'
                  + (f' (GPU blocked {ks["apply_gpu"]:.4f} s)' if 'apply_gpu' in ks else ''))
        ref = None
        for device in devices:
            pyscf_ml.set_device(device)
            for xc in args.functionals:
                if xc == 'scan' and device != 'cpu':
                    continue
                r = run_scf(mol, grids, xc)
                if xc == 'scan':
                    ref = r
                rows.append((name, mol.nao, xc, device, r, ref))
                print(f'  {name:8s} {xc:11s} {device:4s} E={r["e"]:.8f} cycles={r["cycles"]:3d} '
                      f'wall={r["wall"]:7.1f}s per-cycle={r["per_cycle"]:6.2f}s '
                      f'x SCAN per-cycle={r["per_cycle"] / ref["per_cycle"]:.2f} '
                      f'net={100 * r["net"]:4.1f}% '
                      f'peak RSS={peak_rss_gb():.1f} GB', flush=True)
        pyscf_ml.set_device(None)
    print()
    print('| molecule | nao | functional | device | cycles | SCF wall (s) | s/cycle | '
          'wall / SCAN | s/cycle / SCAN | net % |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for name, nao, xc, device, r, ref in rows:
        print(f'| {name} | {nao} | {xc} | {device} | {r["cycles"]} | {r["wall"]:.1f} | '
              f'{r["per_cycle"]:.2f} | {r["wall"] / ref["wall"]:.2f} | '
              f'{r["per_cycle"] / ref["per_cycle"]:.2f} | '
              + ('-' if xc == 'scan' else f'{100 * r["net"]:.1f}') + ' |')


if __name__ == '__main__':
    main()

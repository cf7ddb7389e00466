'''Where the time goes: RKS (PySCF density fitting) and OF-DFT (TF+1/9vW) on one H chain, under
cProfile, with the same settings as the scaling table of ``benchmarks/ofdft.py``::

    python benchmarks/ofdft_profile.py [--n 64] [--out benchmarks/results/ofdft_profile.md]

Each row is the cumulative time of one function (cProfile's ``cumtime``; nested rows overlap,
e.g. the SAD guess includes building the AO values on the grid).  cProfile adds some overhead,
so the totals exceed the unprofiled times of the scaling table.
'''
import argparse
import cProfile
import os
import pstats
import sys
import time

from pyscf import dft, lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from ofdft import h_chain  # noqa: E402  (benchmarks/ofdft.py)

from pyscf_ml.ofdft import OFDFT  # noqa: E402

# (label, file suffix, function name)
RKS_PARTS = [('Coulomb J (PySCF DF, integrals included)', 'scf/hf.py', 'get_j'),
             ('XC potential (numint.nr_rks)', 'dft/numint.py', 'nr_rks'),
             ('diagonalisation (hf.eig)', 'scf/hf.py', 'eig'),
             ('grids (Grids.build)', 'dft/gen_grid.py', 'build')]
OF_PARTS = [('grids (Grids.build)', 'dft/gen_grid.py', 'build'),
            ('screened DF integrals (ScreenedDFJ set-up)', 'ofdft/coulomb.py', '__init__'),
            ('SAD guess (includes the AO-grid build)', 'ofdft/solver.py', 'get_init_guess'),
            ('AO values on the grid (SparseAOGrid set-up)', 'ofdft/aogrid.py', '__init__'),
            ('energy evaluations (energy_and_grad)', 'ofdft/solver.py', 'energy_and_grad'),
            ('  of which Coulomb (ScreenedDFJ.rank_one)', 'ofdft/coulomb.py', 'rank_one')]


def profiled(mf):
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    mf.kernel()
    prof.disable()
    return time.perf_counter() - t0, pstats.Stats(prof).stats


def part(stats, suffix, name):
    '''(calls, cumulative seconds) of the function ``name`` defined in a file ending in
    ``suffix``.'''
    calls, cum = 0, 0.0
    for (path, _, func), (_, ncalls, _, cumtime, _) in stats.items():
        if func == name and path.replace(os.sep, '/').endswith(suffix):
            calls += ncalls
            cum += cumtime
    return calls, cum


def rows(label, total, stats, parts):
    out = [f'| {label} | total | 1 | {total:.2f} | 100 % |']
    for text, suffix, name in parts:
        calls, cum = part(stats, suffix, name)
        out.append(f'| {label} | {text} | {calls} | {cum:.2f} | {100 * cum / total:.0f} % |')
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n', type=int, default=64, help='number of H atoms in the chain')
    p.add_argument('--out', help='also write the table as markdown to this file')
    args = p.parse_args(argv)
    lib.num_threads(1)
    mol = h_chain(args.n)
    ks = dft.RKS(mol, xc='lda,vwn').density_fit()
    ks.grids.level = 2
    t_ks, s_ks = profiled(ks)
    of = OFDFT(mol, kinetic='tf+1/9vw', xc='lda,vwn')
    of.density_fit = True
    of.grids.level = 2
    t_of, s_of = profiled(of)
    cmd = 'python benchmarks/ofdft_profile.py ' + ' '.join(sys.argv[1:] if argv is None
                                                          else argv)
    lines = [f'Command: `{cmd}`  ',
             f'Date: {time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}, one thread; '
             f'H{args.n} chain (0.9 A), unc-cc-pvdz (nao {mol.nao}), LDA, grid level 2, '
             f'RKS {ks.cycles} cycles, OF {of.niter} L-BFGS iterations.', '',
             '| method | part | calls | seconds | share |', '|---|---|---|---|---|']
    lines += rows('RKS', t_ks, s_ks, RKS_PARTS) + rows('OF', t_of, s_of, OF_PARTS)
    text = '\n'.join(lines)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write('# Where the time goes: RKS and OF-DFT on one H chain\n\n' + text + '\n')


if __name__ == '__main__':
    main()

'''Time of one training step of the Hamiltonian model against batch size, and of one inference
of the shipped models, on CPU and (when CUDA is present) GPU, side by side in one run.

A step is what ``python -m pyscf_ml.train phisnet`` does per batch: forward over the batch,
AO-loss, backward, Adam.  Conformers are the training split of a ``pyscf_ml.data phisnet``
file; the model is new (its weights do not change the cost).  Three warm-up steps, then the
mean of ``--repeat``.  The last column counts the aten ops that one step dispatches, a measure
of launch overhead (on a GPU every one is at least one kernel launch or a host-side op).

``--builds`` times, side by side, the trainer's build (tensor products with e3nn's
contraction-order optimisation) and the plain build that serving uses; the order of the two
alternates between batch sizes.

Inference: ``HamiltonianModel.fock`` of a shipped model (float32, no gradients) on the built-in
geometry of its molecule, three warm-up calls, then the mean of 20; and, per build, the time
to build the model from its config and load its weights (once per process when serving).

    python benchmarks/phisnet_step_time.py --data runs/data/water_extra.pt [--batch 16 64 256]
        [--inference water uracil]
'''
import argparse
import time

import torch
from pyscf import gto

from pyscf_ml.data.phisnet import GEOMETRIES
from pyscf_ml.guess.model import HamiltonianModel, rebuilt
from pyscf_ml.guess.predict import load_model
from pyscf_ml.train import phisnet as trainer


def _sync(device):
    '''Wait for queued GPU work, so that a timer measures it.'''
    if device.type == 'cuda':
        torch.cuda.synchronize()


def step_time(samples, batch, device, mul, layers, repeat, optimize=True):
    data = trainer.to_tensors(samples[:batch], torch.float32, device)
    elements = sorted({int(z) for s in samples for z in s['Z']})
    torch.manual_seed(0)
    # optimize=True: built as the trainer builds it (contraction-order optimised tensor
    # products); False: the plain build that serving uses
    model = HamiltonianModel({z: trainer.DEF2SVP_SHELLS[z] for z in elements}, mul=mul,
                             num_layers=layers, optimize_einsums=optimize).float().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        loss = trainer.batch_loss(trainer.batch_fock(model, data), data, 0.)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    _sync(device)
    t = time.perf_counter()
    for _ in range(repeat):
        step()
    _sync(device)
    seconds = (time.perf_counter() - t) / repeat
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
        _sync(device)
    n_ops = sum(1 for e in prof.events() if e.name.startswith('aten::') and e.cpu_parent is None)
    return seconds, n_ops


def inference_time(name, device, optimize=False, repeat=20):
    '''(seconds per inference, seconds to build the model and load its weights)'''
    served = load_model(name).model     # cached; only read
    t = time.perf_counter()
    model = rebuilt(served, optimize_einsums=optimize).float().to(device).eval()
    build_s = time.perf_counter() - t
    mol = gto.M(atom=GEOMETRIES[name], basis='def2-svp', verbose=0)
    z = torch.as_tensor(mol.atom_charges(), device=device)
    pos = torch.as_tensor(mol.atom_coords(), dtype=torch.float32, device=device)
    with torch.no_grad():
        for _ in range(3):
            model.fock(z, pos)
        _sync(device)
        t = time.perf_counter()
        for _ in range(repeat):
            model.fock(z, pos)
        _sync(device)
    return (time.perf_counter() - t) / repeat, build_s


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--data', required=True, help='a pyscf_ml.data phisnet file')
    p.add_argument('--batch', type=int, nargs='+', default=[16, 64, 256])
    p.add_argument('--mul', type=int, default=32)
    p.add_argument('--layers', type=int, default=3)
    p.add_argument('--repeat', type=int, default=5)
    p.add_argument('--builds', nargs='+', choices=['optimised', 'plain'],
                   default=['optimised', 'plain'],
                   help='model builds to time side by side (the trainer uses the optimised one)')
    p.add_argument('--inference', nargs='*', default=['water', 'uracil'],
                   help='shipped per-molecule models to time inference of')
    args = p.parse_args(argv)
    samples = trainer.add_residual_targets(trainer.load_samples([args.data]))
    samples = [s for s in samples if s['split'] == 'train']
    need = max(args.batch)
    if len(samples) < need:
        raise SystemExit(f'{args.data} has {len(samples)} training conformers; '
                         f'--batch needs {need}')
    devices = [torch.device('cpu')] + ([torch.device('cuda')] if torch.cuda.is_available() else [])
    print(f'mul {args.mul}, {args.layers} layers, torch {torch.__version__}, '
          f'{torch.get_num_threads()} CPU threads'
          + (f', {torch.cuda.get_device_name()}' if torch.cuda.is_available() else ''))
    print('| device | build | batch | step (ms) | ms per conformer | aten ops per step |')
    print('|---|---|---|---|---|---|')
    for device in devices:
        for i, b in enumerate(args.batch):
            for build in (args.builds if i % 2 == 0 else args.builds[::-1]):
                sec, n_ops = step_time(samples, b, device, args.mul, args.layers, args.repeat,
                                       optimize=build == 'optimised')
                print(f'| {device.type} | {build} | {b} | {sec * 1e3:.0f} | '
                      f'{sec * 1e3 / b:.1f} | {n_ops} |', flush=True)
    if args.inference:
        print()
        print('| device | build | model (its molecule) | inference (ms) | build + load (s) |')
        print('|---|---|---|---|---|')
        for device in devices:
            for name in args.inference:
                for build in args.builds:
                    sec, build_s = inference_time(name, device, build == 'optimised')
                    print(f'| {device.type} | {build} | {name} | {sec * 1e3:.1f} | '
                          f'{build_s:.2f} |', flush=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())

'''Compose the shipped KineticNet card for stage 11<X>: the trainer's card plus the lineage.

Run from the repository root as `python benchmarks/results/kineticnet_stage11/compose_card.py D`
after training into runs/kn11/<X>; it wrote pyscf_ml/weights/kineticnet.json for 11D (copied
there from runs/kn11/D/kineticnet.ship.json).
'''
import json
import subprocess
import sys

from pyscf_ml.modelcard import compose_shipped_card, lineage_entry

X = sys.argv[1]                      # e.g. C
src = f'runs/kn11/{X}/kineticnet'
# 9E's shipped card (with its 9A-9E stages), as committed when 9E was shipped
prev = json.loads(subprocess.check_output(
    ['git', 'show', '2ea953c:pyscf_ml/weights/kineticnet.json']))
card = json.load(open(src + '.json'))

stages = list(prev['training_stages'])      # ends with 9E itself
assert stages[-1]['stage'] == '9E' and stages[-1]['sha256'] == prev['sha256']
for s in 'ABCD'[:'ABCD'.index(X)]:
    stages.append(lineage_entry(json.load(open(f'runs/kn11/{s}/kineticnet.json')), '11' + s))
card_note = (f'trained with --weights {src}.pt and copied here (stage 11{X}, copy with '
             f'card in benchmarks/results/kineticnet_stage11/{X}/); earlier stages of '
             'its lineage in training_stages')
notes = (
    'Stage 11 (benchmarks/results/ofdft_path.md, "Stage 11"): the stage-9E model (its lineage '
    'in training_stages: 9A from random weights, hidden 48, mul 10, on KS ground states of H2, '
    'HeH+, H3+, LiH in random potentials and LiH path rounds) fine-tuned on all 9E data plus H4: '
    '11A adds 80 H4 ground states (seed 20) and one H4 path round from 9E\'s minima (seeds 21, '
    '23); 11B adds 160 HeH+ ground states (seed 24) and a second H4 path round from 11A\'s '
    'minima (seeds 25, 26); 11C is 11B settled on the same data at lr 1e-4; 11D (shipped) adds '
    '160 H3+ (seed 27) and 80 H2 (seed 28) ground states at lr 1e-4 (its run, started at '
    'commit 8a5d793, was interrupted by a machine restart during epoch 3, after the epoch-2 '
    'checkpoint, and continued from that checkpoint with --resume at d193796, which changed no '
    'code; the resumed losses equal the interrupted run\'s at every logged step, 510-560). '
    'Validation (model '
    'selection): val.pt (seed 9), lih_path_val.pt (seed 10) and val_h4.pt (seed 22); held_out '
    '(test.pt, seed 1) was never used for a choice. Shipping rule, fixed before stage 11: '
    'validation T_P MAE <= 1 kcal/mol for H2, HeH+, H3+; OF-DFT H2 0.8 and HeH+ 0.9 within 1 '
    'kcal/mol of KS; LiH at 1.45/1.75 A converged and collapsing at most 10 kcal/mol more '
    'than 9E (-172.8/-234.0); H4 validation T_P MAE and OF-DFT at two validation H4 chains '
    'better than 9E. Reproducing: runs/stage5/kineticnet.pt in the lih_path4.pt and '
    'lih_path_val.pt commands, and pyscf_ml/weights/kineticnet.pt in the lih_path4.pt command '
    'of the stage-9 entries (its name when stage 9 ran), are the stage-5 file (git show '
    '955cfd7:pyscf_ml/weights/kineticnet.pt, sha256 '
    '60314ec01767b427b12c020ced81260892bee5d3cffa6f12ce15dd3b9c870f6c); runs/kn11/A, B and '
    'C and the stage-9 files are the copies in benchmarks/results/kineticnet_stage11/ and '
    'kineticnet_stage9/. The ofdft-path files do not regenerate bit for bit (the OF-DFT '
    'minimisation before the inversion); the ground-state files do. Held-out data: python -m '
    'pyscf_ml.data ofdft --molecules H2,HeH+,H3+,LiH,H4 --n-per-mol 15 --seed 1 --rho-min 1e-8 '
    '--out runs/ofdft_data/test.pt.')
card = compose_shipped_card(card, src + '.pt', stages, card_note, notes)
json.dump(card, open(src + '.ship.json', 'w'), indent=1)
print('card written', src + '.ship.json')

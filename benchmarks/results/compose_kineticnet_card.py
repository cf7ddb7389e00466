'''Compose the card shipped with a fine-tuned KineticNet: the trainer's card plus its lineage.

The trainer writes a card for its own run only.  The shipped card adds, in ``training_stages``
(earliest first), every stage the run descends from: those of the previously shipped card,
that card's own stage, and any unshipped stages in between (``--earlier``).  The shipped cards
of stages 11D, 12A, 13A and 16B were made with (from the repository root)::

    R=benchmarks/results
    python $R/compose_kineticnet_card.py --stage 11D --copy $R/kineticnet_stage11/D \\
        --previous 2ea953c:pyscf_ml/weights/kineticnet.json --previous-stage 9E \\
        --earlier $R/kineticnet_stage11/A/kineticnet.json=11A \\
        --earlier $R/kineticnet_stage11/B/kineticnet.json=11B \\
        --earlier $R/kineticnet_stage11/C/kineticnet.json=11C \\
        --notes $R/kineticnet_stage11/notes.txt --out pyscf_ml/weights/kineticnet.json
    python $R/compose_kineticnet_card.py --stage 12A --copy $R/kineticnet_stage12/A \\
        --previous 88525ea:pyscf_ml/weights/kineticnet.json --previous-stage 11D \\
        --notes $R/kineticnet_stage12/notes.txt --out pyscf_ml/weights/kineticnet.json
    python $R/compose_kineticnet_card.py --stage 13A --copy $R/kineticnet_stage13/A \\
        --previous 596fe95:pyscf_ml/weights/kineticnet.json --previous-stage 12A \\
        --notes $R/kineticnet_stage13/notes.txt --out pyscf_ml/weights/kineticnet.json
    python $R/compose_kineticnet_card.py --stage 16B --copy $R/kineticnet_stage16/B \\
        --previous 0df9632:pyscf_ml/weights/kineticnet.json --previous-stage 13A --new-lineage \\
        --earlier $R/kineticnet_stage14/B/kineticnet.json=14B \\
        --earlier $R/kineticnet_stage15/B/kineticnet.json=15B \\
        --notes $R/kineticnet_stage16/notes.txt --out pyscf_ml/weights/kineticnet.json

``--copy`` is the committed copy of the training run's output (kineticnet.pt and the trainer's
kineticnet.json).  A lineage that began from random weights after the previous shipped stage
(stage 14B on) takes ``--new-lineage``: its ``training_stages`` are the ``--earlier`` ones only
(the models that made its path data are named in its data commands and in the previous
card).  In the notes file, ``{previous_notes}`` stands for the previous card's notes.
'''
import argparse
import json
import os
import shlex
import subprocess

from pyscf_ml.modelcard import compose_shipped_card, lineage_entry


def weights_option(command):
    '''The ``--weights`` path of a training command (where the trainer wrote the file).'''
    words = shlex.split(command)
    return words[words.index('--weights') + 1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--stage', required=True, help='name of the stage being shipped, e.g. 13A')
    p.add_argument('--copy', required=True, help='folder with its kineticnet.pt and card')
    p.add_argument('--previous', required=True,
                   help='REV:PATH of the previously shipped card (read with git show)')
    p.add_argument('--previous-stage', required=True, help="that card's stage name")
    p.add_argument('--earlier', action='append', default=[], metavar='CARD=STAGE',
                   help='an unshipped stage between the previous one and this (repeatable)')
    p.add_argument('--new-lineage', action='store_true',
                   help='the run descends from random weights, not from the previous card: '
                   'list only the --earlier stages')
    p.add_argument('--notes', required=True, help='notes text file')
    p.add_argument('--out', required=True)
    args = p.parse_args(argv)

    prev = json.loads(subprocess.check_output(['git', 'show', args.previous]))
    stages = [] if args.new_lineage else list(prev.get('training_stages') or [])
    if not args.new_lineage and (not stages or stages[-1]['sha256'] != prev['sha256']):
        stages.append(lineage_entry(prev, args.previous_stage))   # older cards list it already
    for item in args.earlier:
        card_path, name = item.rsplit('=', 1)
        with open(card_path) as f:
            stages.append(lineage_entry(json.load(f), name))

    with open(os.path.join(args.copy, 'kineticnet.json')) as f:
        trainer_card = json.load(f)
    last = stages[-1] if stages else {'stage': None, 'sha256': None}
    if (trainer_card.get('init') or {}).get('sha256') != last['sha256']:
        raise SystemExit(f'{args.stage} was not fine-tuned from stage {last["stage"]}')
    with open(args.notes) as f:
        notes = f.read().strip().replace('{previous_notes}', prev['notes'])
    card_note = (f'trained with --weights {weights_option(trainer_card["command"])} and copied '
                 f'here (stage {args.stage}, copy with card in {args.copy}/); earlier stages '
                 'of its lineage in training_stages')
    card = compose_shipped_card(trainer_card, os.path.join(args.copy, 'kineticnet.pt'), stages,
                                card_note, notes)
    with open(args.out, 'w') as f:
        json.dump(card, f, indent=1)
    print('card written', args.out)


if __name__ == '__main__':
    main()

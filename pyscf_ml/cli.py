'''Shared dispatch for ``python -m pyscf_ml.data <command>`` and ``python -m pyscf_ml.train
<command>``: each command lives in its own module with a ``main(argv)`` function, imported only
when asked for.'''
import importlib
import sys


def dispatch(prog, commands, argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ('-h', '--help') or argv[0] not in commands:
        width = max(len(c) for c in commands)
        lines = [f'usage: python -m {prog} COMMAND [options]', '', 'commands:']
        lines += [f'  {c:<{width}}  {doc}' for c, (_, doc) in sorted(commands.items())]
        print('\n'.join(lines))
        if argv and argv[0] not in ('-h', '--help'):
            print(f'\nunknown command {argv[0]!r}', file=sys.stderr)
            return 2
        return 0
    module, _ = commands[argv[0]]
    return importlib.import_module(module).main(argv[1:]) or 0

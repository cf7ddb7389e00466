'''The ``--weights TAG=FILE ...`` argument shared by the benchmark scripts.'''
import os


def tag_file_pairs(specs):
    '''[(tag, path), ...] from ``TAG=FILE`` strings; SystemExit naming the bad one when a spec
    has no '=', a tag repeats or a file is missing.'''
    pairs, seen = [], set()
    for spec in specs:
        tag, sep, path = spec.partition('=')
        tag = tag.strip()
        if not sep or not tag or not path:
            raise SystemExit(f'--weights {spec!r}: expected TAG=FILE')
        if tag in seen:
            raise SystemExit(f'--weights {spec!r}: tag {tag!r} given twice')
        if not os.path.isfile(path):
            raise SystemExit(f'--weights {spec!r}: no such file {path}')
        seen.add(tag)
        pairs.append((tag, path))
    return pairs

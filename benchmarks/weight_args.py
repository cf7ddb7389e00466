'''The ``--weights TAG=FILE ...`` argument shared by the benchmark scripts.'''
def tag_file_pairs(specs):
    '''[(tag, path), ...] from ``TAG=FILE`` strings; SystemExit naming the bad one when a spec
    has no '=' or a tag repeats.  FILE is passed on as given: the loaders accept shipped model
    names as well as paths, and name a file they cannot read.'''
    pairs, seen = [], set()
    for spec in specs:
        tag, sep, path = spec.partition('=')
        tag = tag.strip()
        if not sep or not tag or not path:
            raise SystemExit(f'--weights {spec!r}: expected TAG=FILE')
        if tag in seen:
            raise SystemExit(f'--weights {spec!r}: tag {tag!r} given twice')
        seen.add(tag)
        pairs.append((tag, path))
    return pairs


def kineticnet_files(path):
    '''FILE, or a list of files for ``A.pt+B.pt+...`` (the mean of those KineticNets).  An
    empty part is refused: the loader would read it as "the shipped weights".  A path that
    itself contains '+' cannot be given here.'''
    if '+' not in path:
        return path
    parts = path.split('+')
    if not all(parts):
        raise SystemExit(f'--weights ...={path!r}: an empty file name between "+" signs')
    return parts

'''``--weights TAG=FILE`` of the benchmark scripts: a bad spec stops the run by name.'''
import pytest
from conftest import load_benchmark_script


def test_tag_file_pairs(tmp_path):
    parse = load_benchmark_script('weight_args').tag_file_pairs
    a, b = tmp_path / 'a.pt', tmp_path / 'b.pt'
    a.write_bytes(b'x')
    b.write_bytes(b'y')
    assert parse([f'old={a}', f'new={b}', 'shipped=hcno']) == [
        ('old', str(a)), ('new', str(b)), ('shipped', 'hcno')]
    for specs, match in (([str(a)], 'expected TAG=FILE'),
                         ([f'={a}'], 'expected TAG=FILE'),
                         ([f'x={a}', f'x={b}'], 'given twice')):
        with pytest.raises(SystemExit, match=match):
            parse(specs)

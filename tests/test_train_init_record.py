'''What a model card records about ``--init``, for fresh and resumed runs.'''
from pyscf_ml.modelcard import sha256_of
from pyscf_ml.train.progress import init_of_resumed_run, init_record


def test_init_record_and_resume(tmp_path):
    w = tmp_path / 'start.pt'
    w.write_bytes(b'weights')
    rec = init_record(str(w))
    assert rec == {'file': str(w), 'sha256': sha256_of(str(w))}
    assert init_record(None) is None
    assert init_record('hcno', str(w))['file'] == 'hcno'          # a model name, hashed by path
    # a resumed run keeps what its first start stored, even after the file changed
    w.write_bytes(b'overwritten')
    assert init_of_resumed_run({'init': rec}, init_record(str(w))) == rec
    assert init_of_resumed_run({'init': None}, init_record(str(w))) is None
    # a checkpoint from before init tracking: marked, never passed off as the first start
    old = init_of_resumed_run({}, init_record(str(w)))
    assert old['sha256'] != rec['sha256'] and 'predates' in old['note']
    assert 'unknown' in init_of_resumed_run({}, None)

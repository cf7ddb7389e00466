'''Progress lines of a resumed, time-limited training run: elapsed counts the whole run and the
eta follows the clock when the time limit ends the run before the steps do.'''
import re

from pyscf_ml.train.progress import Progress


def _fields(line):
    return {k: float(v.rstrip('s')) for k, v in re.findall(r'(\w+)=([0-9.e+-]+s?)', line)}


def test_resumed_time_limited_run(monkeypatch, tmp_path, capsys):
    clock = iter([0., 30.])                     # one epoch of 30 s after the resume
    monkeypatch.setattr('pyscf_ml.train.progress.time.perf_counter', lambda: next(clock))
    log = tmp_path / 'train.log'
    p = Progress(100000, str(log), start_step=100, seconds_before=3000., time_limit=3600.)
    p.update(101, val=1.5)
    p.close()
    line = log.read_text().strip()
    assert line.startswith('[101/100000] val=1.5')
    f = _fields(line)
    assert f['elapsed'] == 3030                 # the seconds before the resume are counted
    assert f['eta'] == 570                      # the clock, not 99899 more epochs, ends the run
    assert capsys.readouterr().err.strip() == line


def test_eta_from_this_runs_rate(monkeypatch, tmp_path):
    clock = iter([0., 10.])                     # construction, then one update 10 s later
    monkeypatch.setattr('pyscf_ml.train.progress.time.perf_counter', lambda: next(clock))
    log = tmp_path / 'train.log'
    p = Progress(30, str(log), start_step=10, seconds_before=500.)
    p.update(20)                                # 10 steps in 10 s, 10 steps left
    p.close()
    f = _fields(log.read_text())
    assert f['elapsed'] == 510 and f['eta'] == 10

'''benchmarks/call_timer.py: the wrapper the cost benchmarks use for their "net %" columns.'''
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'benchmarks'))
from call_timer import CallTimer  # noqa: E402


class Base:
    def work(self, seconds):
        time.sleep(seconds)
        return 'done'


class Child(Base):
    pass


def test_times_calls_and_restores_the_owner_exactly():
    own = vars(Base)['work']
    with CallTimer((Base, 'work'), (Child, 'work')) as timer:
        assert Base().work(0.05) == 'done'
        assert Child().work(0.05) == 'done'       # wrapped twice: counted twice
    assert 0.15 <= timer.seconds < 1.0
    assert vars(Base)['work'] is own
    assert 'work' not in vars(Child)             # inherited before, inherited after
    t0 = timer.seconds
    Base().work(0.01)
    assert timer.seconds == t0                   # no longer timed

"""The doctor: the verdict on a handler, the culprits, the fix, before and after.

:func:`diagnose` runs a handler in the local Lambda (:mod:`fdscope.local`)
until the verdict is clear and returns a :class:`Diagnosis` (``leak``,
``gc-bound``, ``bounded``, ``none`` or ``broken``, with the rate, the
projection to the limit, the culprit lines and the advice);
:func:`write_outputs` writes ``summary.json`` and the chart into the run
directory; :func:`compare` reads two run directories and says whether the fix
worked.
"""

from __future__ import annotations

from fdscope.doctor.compare import Comparison, RunFigures, compare, figures, held
from fdscope.doctor.culprits import Culprit
from fdscope.doctor.decision import EXIT_CODES, VERDICTS, decide
from fdscope.doctor.diagnosis import Diagnosis, diagnose
from fdscope.doctor.outputs import write_outputs

__all__ = [
    "EXIT_CODES",
    "VERDICTS",
    "Comparison",
    "Culprit",
    "Diagnosis",
    "RunFigures",
    "compare",
    "decide",
    "diagnose",
    "figures",
    "held",
    "write_outputs",
]

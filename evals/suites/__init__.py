"""One module per suite; `evals.registry` imports each of them (names not starting with "_").

The package also spans every other `evals/suites/` folder on `sys.path`, so a suite file kept outside
this tree (another distribution, a project's own directory) is discovered the same way.
"""

import sys
from pathlib import Path

_here = [Path(p).resolve() for p in __path__]
for _entry in sys.path:
    _folder = (Path(_entry or ".") / "evals" / "suites").resolve()
    if _folder.is_dir() and _folder not in _here:
        __path__.append(str(_folder))
        _here.append(_folder)

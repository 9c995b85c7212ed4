"""One module per suite; `evals.registry` imports each of them (names not starting with "_").

The package path is extended over `sys.path` (pkgutil-style), so a suite file can also live in an
`evals/suites/` folder of another distribution or directory on the path: it is discovered the same way.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

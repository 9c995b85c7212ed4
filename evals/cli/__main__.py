"""`python -m evals.cli ...` runs the `evals` console script."""

from evals.cli import main

if __name__ == "__main__":
    main()

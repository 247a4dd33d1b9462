"""genbench's benchmark, one module per section; `python -m scripts.bench --help`."""

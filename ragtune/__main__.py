"""``python -m ragtune``: the ``ragtune`` command."""

from ragtune.cli.main import app

if __name__ == "__main__":
    app()

"""``python -m ragtune`` runs the CLI."""

from ragtune.cli.main import app

if __name__ == "__main__":
    app()

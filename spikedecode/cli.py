"""The ``spikedecode`` command.

Sub-commands live in ``spikedecode/_cli/<name>.py`` (each exposes a ``command``) and are
imported lazily, so ``spikedecode --help`` stays fast and a command whose optional
dependencies are missing does not break the others.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from spikedecode import __version__
from spikedecode.errors import SpikeDecodeError

__all__ = ["main", "cli"]

# name -> (module, short help)
COMMANDS: dict[str, tuple[str, str]] = {
    "info": ("spikedecode._cli.info", "Summarise a recording file."),
    "demo": ("spikedecode._cli.demo", "Run the embedded simulated touch experiment end to end."),
    "decode": ("spikedecode._cli.decode", "Decode the stimulus from one recording."),
    "consistency": ("spikedecode._cli.consistency", "Cross-day decoding matrix over recordings."),
    "robust": ("spikedecode._cli.robust", "Robustness curves of image models under attack."),
}


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (mod, _) in COMMANDS.items() if importlib.util.find_spec(mod)]

    def get_command(self, ctx: click.Context, name: str) -> Any:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(COMMANDS[name][0])
        return module.command

    def format_commands(self, ctx: click.Context, formatter: Any) -> None:
        rows = [(n, COMMANDS[n][1]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="spikedecode")
def cli() -> None:
    """spikedecode: load spike recordings, decode the stimulus, compare days, test robustness."""


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning SpikeDecodeError into a one-line message."""
    from spikedecode._threads import CLI_ENV_VARS, configure_cli

    saved_env = {var: os.environ.get(var) for var in CLI_ENV_VARS}
    try:
        # before torch and scikit-learn load their OpenMP runtimes: idle threads sleep
        # instead of spinning (spikedecode/_threads.py); --threads refines the count later
        configure_cli(None)
        cli.main(args=argv, prog_name="spikedecode", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.ClickException as err:
        err.show()
        return err.exit_code
    except SpikeDecodeError as err:
        click.echo(f"error: {err}", err=True)
        return 2
    finally:
        for var, value in saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

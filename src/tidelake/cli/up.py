"""``tidelake up``: serve every API on one port until Ctrl-C."""
from __future__ import annotations

from pathlib import Path

import click


def load_settings(data_dir: Path | None, config: Path | None, **overrides):
    from tidelake.config import Settings
    from tidelake.errors import TidelakeError
    try:
        return Settings.from_env(config_file=config, data_dir=data_dir, **overrides)
    except (TidelakeError, OSError) as e:
        raise click.ClickException(f"{e} Fix the setting (see docs/settings.md) and try again.") from None


@click.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port for every API and the console (default 4566).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Where everything is kept (default ./tidelake-data, or TIDELAKE_DATA_DIR).")
@click.option("--config", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="A tidelake.toml settings file.")
def up(host: str | None, port: int | None, data_dir: Path | None, config: Path | None) -> None:
    """Start the platform in the foreground (Ctrl-C stops it cleanly)."""
    from tidelake.platform import Platform
    from tidelake.server import serve

    settings = load_settings(data_dir, config, host=host, port=port)
    platform = Platform(settings).start()

    def ready() -> None:
        click.echo(f"tidelake is up\n"
                   f"  endpoint   {settings.endpoint_url}   (AWS_ENDPOINT_URL={settings.endpoint_url})\n"
                   f"  data dir   {settings.data_dir.resolve()}\n"
                   f"  console    {settings.endpoint_url}/ui/\n"
                   f"  health     {settings.endpoint_url}/_tidelake/health\n"
                   f"Press Ctrl-C to stop.", err=True)
    try:
        serve(platform, ready)
    finally:
        platform.close()
        click.echo("tidelake stopped; data flushed.", err=True)

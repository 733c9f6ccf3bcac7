"""``fdscope setup node``: install what the local Lambda needs to run Node.js handlers."""

from __future__ import annotations

from fdscope._extras import extra

with extra("cli"):
    import click


@click.group()
def setup() -> None:
    """Install runtime pieces the local Lambda needs (once per machine)."""


@setup.command()
@click.option("--node", "node", default=None, help="The node to install for (default: PATH's).")
@click.option("--force", is_flag=True, help="Reinstall even when the cache is current.")
def node(node: str | None, force: bool) -> None:
    """Install AWS's runtime interface client for Node.js (aws-lambda-ric 3.x for Node
    18/20, 4.x for 22+) into fdscope's cache with npm ci, from the lock file fdscope
    ships. Its native addon needs a C++ compiler, make, cmake and autoconf, automake,
    libtool, m4. Without it, fdscope invoke/doctor run Node handlers with fdscope's
    pure-JavaScript stand-in client.
    """
    from fdscope.local import install_node_client

    client, seconds = install_node_client(node, force=force, log=lambda m: click.echo(m, err=True))
    how = f"installed in {seconds:.0f} s" if seconds else "already installed"
    click.echo(f"{client.name} {client.version}: {how} ({client.module.parent.parent})")

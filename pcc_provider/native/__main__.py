"""`python -m pcc_provider.native <engine address>`: the plugin, as the archive's script runs it."""

from pcc_provider.native.server import main

main()

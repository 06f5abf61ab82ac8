"""``python -m agent_orchestrated_etl.cli``."""

from . import main

main()

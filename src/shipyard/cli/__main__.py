"""``python -m shipyard.cli``"""

from shipyard.cli import main

main()
